"""The reference wallet: the device side of the card (keys, secret code, QR codes), as a library
and `carnet wallet` commands.
"""
