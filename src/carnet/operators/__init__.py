"""Back-office operators: accounts with roles, passkey sign-in, and what each role may do."""
