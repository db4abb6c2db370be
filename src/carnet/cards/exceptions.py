"""Errors of the cards domain, with the stable codes listed in ``docs/card.md``."""

from __future__ import annotations

from carnet.exceptions import AppError

# -- verifying a card code (in the order of ``verify_card_code``) --------------------------------


class QrMalformed(AppError):
    status_code = 400
    code = "qr_malformed"


class QrUnknownCard(AppError):
    """No device credential has this key id (a foreign code), or the card number differs."""

    status_code = 400
    code = "qr_unknown_card"


class QrInvalidSignature(AppError):
    status_code = 400
    code = "qr_invalid_signature"


class CardSuspended(AppError):
    status_code = 403
    code = "card_suspended"


class CardRevoked(AppError):
    status_code = 403
    code = "card_revoked"


class CardLocked(AppError):
    status_code = 403
    code = "card_locked"


class QrExpired(AppError):
    status_code = 400
    code = "qr_expired"


class QrNotYetValid(AppError):
    status_code = 400
    code = "qr_not_yet_valid"


class QrLifetimeTooLong(AppError):
    status_code = 400
    code = "qr_lifetime_too_long"


class QrWrongPurpose(AppError):
    status_code = 400
    code = "qr_wrong_purpose"


class WrongSecretCode(AppError):
    """The PIN tag does not match; ``details`` carries the attempts left (already committed)."""

    status_code = 401
    code = "wrong_secret_code"


class QrReplayed(AppError):
    status_code = 409
    code = "qr_replayed"


class DelegationExpired(AppError):
    status_code = 403
    code = "delegation_expired"


class DelegationRevoked(AppError):
    status_code = 403
    code = "delegation_revoked"


class DelegationNotYours(AppError):
    status_code = 403
    code = "delegation_not_yours"


# -- activation -----------------------------------------------------------------------------------


class IdentityNotRecognised(AppError):
    """Unknown person, or wrong birth date (or e-mail): never says which."""

    status_code = 400
    code = "identity_not_recognised"


class ActivationNotFound(AppError):
    status_code = 404
    code = "activation_not_found"


class ActivationExpired(AppError):
    status_code = 400
    code = "activation_expired"


class ActivationWrongState(AppError):
    status_code = 409
    code = "activation_wrong_state"


class WrongOtp(AppError):
    status_code = 400
    code = "wrong_otp"


class OtpExpired(AppError):
    status_code = 400
    code = "otp_expired"


class TooManyActivations(AppError):
    status_code = 429
    code = "too_many_activations"


class MailUnavailable(AppError):
    status_code = 503
    code = "mail_unavailable"


# The passkey errors (passkey_refused, passkey_challenge_invalid) are the platform's:
# kit/passkeys.py, shared with the professionals' and operators' sign-in.
