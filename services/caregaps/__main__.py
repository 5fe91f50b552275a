"""``python -m services.caregaps``: run one engine instance (same as ``peerlink caregaps run``)."""

from services.caregaps.service import main

main()
