"""The versioned integration API (/api/v1), its OpenAPI document and machine tokens."""
