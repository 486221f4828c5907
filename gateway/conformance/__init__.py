"""The conformance kit: named assertions run against any endpoint that implements the contract.

A vendor points ``edoc-gateway conformance run`` at their endpoint (or at a gateway in front of
their system) with one or two agencies' credentials; every assertion exchanges real messages and
passes, fails with a reason and the messages it exchanged, or is skipped saying why.

Layout: :mod:`registry` (what an assertion is), :mod:`exchanges` (the recorded HTTP messages),
:mod:`driver` (what a dialect must offer: send, pull, get, confirm, status, traces, raw request),
:mod:`dialects` (the table of dialects: driver and assertion modules), :mod:`session` (fresh
packages per run, shared scenarios), :mod:`runner`, :mod:`report` (rich text and JUnit XML),
``checks/`` (the assertions, one module per dialect and area).
"""
