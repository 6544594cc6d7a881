"""The worker process. Import `nas.worker.threads` first: it must run before torch loads."""
