from fastapi import APIRouter

router = APIRouter(prefix="/fhir", tags=["fhir"])
