"""The export formats, each read and written in one module: JSON document, JSON Lines, Markdown, CSV, jrnl."""
