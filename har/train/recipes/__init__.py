"""One training recipe per model: its config, inputs, phases and losses."""
