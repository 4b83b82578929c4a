"""Identity: public accounts, staff users, sessions, second factors and claim codes."""
