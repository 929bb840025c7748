"""The trusted side: submissions and the untrusting file reader, suites and the probe cutter,
secret and seeds, references, staging, launching the sandbox, the worker pool and the judge.
Nothing here runs in the sandbox."""
