"""The audit trail: who changed what, and when, for every state-changing request.

Written in the same transaction as the change it describes (`record(connection, ...)`
takes the change's own connection), so a change without its audit row, or an audit row
for a change that was rolled back, cannot exist.
"""
