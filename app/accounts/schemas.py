"""Pydantic shapes of the accounts API (field names fixed by DESIGN.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from app.accounts.models import OrgKind, Role, SchoolLevel

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Password = Annotated[str, Field(min_length=8, max_length=128)]

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class OrganizationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    kind: OrgKind
    level: SchoolLevel | None = None
    parent_id: int | None = None


class OrganizationUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name | None = None
    level: SchoolLevel | None = None
    parent_id: int | None = None


class OrganizationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    kind: OrgKind
    level: SchoolLevel | None
    parent_id: int | None


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Annotated[EmailStr, Field(max_length=254)]
    full_name: Name
    role: Role
    organization_id: int
    password: Password | None = None


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    full_name: Name | None = None
    role: Role | None = None
    organization_id: int | None = None
    is_active: bool | None = None


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    email: str
    full_name: str
    role: Role
    organization_id: int
    organization_name: str
    is_active: bool
    activated: bool
    created_at: datetime
    last_login_at: datetime | None


class UserCreated(UserOut):
    activation_url: str | None = None


class ActivationOut(BaseModel):
    activation_url: str
    expires_in_days: int


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current_password: Annotated[str, Field(max_length=128)]
    new_password: Password


class ActivateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: Annotated[str, Field(min_length=1, max_length=100)]
    password: Password


class LineErrorOut(BaseModel):
    line: int
    message: str


class ActivationLink(BaseModel):
    email: str
    activation_url: str


class ImportOut(BaseModel):
    created: int
    skipped: int
    errors: list[LineErrorOut]
    dry_run: bool
    activations: list[ActivationLink]
