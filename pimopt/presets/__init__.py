"""Named architecture presets (TOML files)."""
