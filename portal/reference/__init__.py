"""The partnership's reference data and its rules: agencies, purposes, data categories,
sharing agreements, people and their holdings, API keys."""
