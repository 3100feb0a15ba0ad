"""Attack tests (issue 19): each test plays an attacker against the real stack, or the real
server on a free port, and checks that the attack is refused. The live stack's fixtures
(stack, controller, running_controller, takers) come from tests/conftest.py, shared with
the end-to-end and browser tests, so this suite adds no stack of its own."""
