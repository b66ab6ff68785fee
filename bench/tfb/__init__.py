"""A TechEmpower-style benchmark suite: the TFB test types, their apps, their verifier.

``bench/tfb/run.py`` is the one command; ``database`` starts a throw-away PostgreSQL
with the TFB schema; ``apps/`` holds one app per framework; ``verify`` checks a running
server against the test types' output rules (used by the runner's pre-flight and the
tests). See bench/README.md.
"""
