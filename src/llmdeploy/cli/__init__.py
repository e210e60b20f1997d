"""The `llmdeploy` command line: one small module per command, thin over the library."""
