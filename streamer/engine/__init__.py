"""The pipeline: each source's endpoints polled, their drafts turned into events through the
ledger, published and checkpointed as one commit; the daemon that runs the sources."""
