"""The console: the web pages where people act on findings (issue 19)."""
