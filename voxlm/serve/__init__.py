"""The OpenAI-compatible HTTP server and browser page (`voxlm serve`), a front end over `voxlm.inference`."""
