"""Outgoing e-mail over SMTP, and the development SMTP sink whose messages can be read."""
