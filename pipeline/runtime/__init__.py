"""Embedded runtime: the services cascadewatch starts itself when none are configured."""
