"""Professionals' sign-in to the web portal: passkeys and OpenID Connect (Pro Santé Connect-like
claims), bound to the directory's professionals."""
