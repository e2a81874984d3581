"""Data layer: adapters, validation, One-ID, canonical tables and feature builders."""
