"""The person's own consent pages: what they agreed to, who holds their records, what
happened to them, and their data to take away."""
