"""The ground floor: settings, findings, schemas, file metadata and outcome types.

Every stage imports it; it imports no stage.
"""
