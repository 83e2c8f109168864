"""The feature modules of the server: the domain layer of DESIGN's "Three layers".

Each one holds one feature's rules and statements (stock, incidents, alerts
and their escalation, headcount, issuance and the key ring, staff, tasks and
run sheets, broadcasts, evacuations, mail, retention, the role table). They
import the base (``server/`` settings, db, models, context, errors, auth,
serialize, lookup) and the domain modules they need (``checkin/``,
``realtime/``, each other), never the wiring (``server/routes/``,
``server/app.py``, ``server/cli.py``): tests/test_layers.py reads the imports.
"""
