"""The numerical engine: code generation, compiled kernels, steady states, time courses, batches, executors."""
