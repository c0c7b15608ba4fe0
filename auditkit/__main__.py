"""`python -m auditkit`, which is what `torchrun` and `accelerate launch` need."""

from auditkit.cli import main

if __name__ == "__main__":
    main()
