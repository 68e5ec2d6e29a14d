"""(being built: see the issue that owns this area)"""

from fastapi import APIRouter

router = APIRouter()
