"""Abandoned-call callbacks: the list, the call back through AMI Originate, the outcomes."""
