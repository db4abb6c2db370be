"""The digital health-insurance card: accounts, activation, device credentials, secret code,
lifecycle, delegations.
"""
