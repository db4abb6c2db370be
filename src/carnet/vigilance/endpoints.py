from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/structures", tags=["identity-vigilance"])
