"""RQ's own worker tests run against the generated worker class (see ``runner``)."""
