"""The reference wallet: the device side of the card (keys, secret code, QR codes), as a library
and `carnet wallet` commands.
"""

from carnet.wallet.wallet import (
    SECRET_CODE_RULES,
    Wallet,
    WalletError,
    check_secret_code,
    qr_png,
)

__all__ = ["SECRET_CODE_RULES", "Wallet", "WalletError", "check_secret_code", "qr_png"]
