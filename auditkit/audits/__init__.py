"""Audits. Each is registered by name in `auditkit.api.registry.AUDITS` and imported lazily."""
