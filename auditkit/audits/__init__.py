"""Audits. Each is registered by name in `auditkit.registry.AUDITS` and imported lazily."""
