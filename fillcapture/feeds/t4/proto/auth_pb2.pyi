import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LoginResult(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LOGIN_RESULT_SUCCESS: _ClassVar[LoginResult]
    LOGIN_RESULT_FAILED: _ClassVar[LoginResult]
    LOGIN_RESULT_APPLICATION_NOT_VALID: _ClassVar[LoginResult]
    LOGIN_RESULT_FIRM_NOT_ALLOWED: _ClassVar[LoginResult]
    LOGIN_RESULT_USER_NOT_ALLOWED: _ClassVar[LoginResult]
    LOGIN_RESULT_INCORRECT_VERSION: _ClassVar[LoginResult]
    LOGIN_RESULT_LOGGED_IN_ELSEWHERE: _ClassVar[LoginResult]
    LOGIN_RESULT_LOGOUT: _ClassVar[LoginResult]
    LOGIN_RESULT_UNEXPECTED_DISCONNECT: _ClassVar[LoginResult]
    LOGIN_RESULT_UNAUTHORIZED: _ClassVar[LoginResult]
    LOGIN_RESULT_UNEXPECTED_ERROR: _ClassVar[LoginResult]
    LOGIN_RESULT_ROLE_NOT_SUPPORTED: _ClassVar[LoginResult]
    LOGIN_RESULT_API_MESSAGE_BACKLOG: _ClassVar[LoginResult]
    LOGIN_RESULT_SERVER_MESSAGE_BACKLOG: _ClassVar[LoginResult]
    LOGIN_RESULT_PASSWORD_EXPIRED: _ClassVar[LoginResult]
    LOGIN_RESULT_PASSWORD_CHANGE_FAILED: _ClassVar[LoginResult]
    LOGIN_RESULT_PASSWORD_ALREADY_USED: _ClassVar[LoginResult]
    LOGIN_RESULT_LOCKED_OUT: _ClassVar[LoginResult]
    LOGIN_RESULT_ADDITIONAL_USERS_NOT_ALLOWED: _ClassVar[LoginResult]
    LOGIN_RESULT_MARKET_DATA_NOT_SETUP: _ClassVar[LoginResult]
    LOGIN_RESULT_TWO_FACTOR_NOT_SETUP: _ClassVar[LoginResult]
    LOGIN_RESULT_TWO_FACTOR_FAILED: _ClassVar[LoginResult]
    LOGIN_RESULT_FIX_SESSION_ERROR: _ClassVar[LoginResult]
    LOGIN_RESULT_TWO_FACTOR_REQUIRED: _ClassVar[LoginResult]
    LOGIN_RESULT_USER_EXISTS: _ClassVar[LoginResult]
    LOGIN_RESULT_UNKNOWN: _ClassVar[LoginResult]

class PriceFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRICE_FORMAT_DECIMAL: _ClassVar[PriceFormat]
    PRICE_FORMAT_REAL: _ClassVar[PriceFormat]
    PRICE_FORMAT_CLEARING_DECIMAL: _ClassVar[PriceFormat]

class AccountMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACCOUNT_MODE_BY_MARKET: _ClassVar[AccountMode]
    ACCOUNT_MODE_BY_CONTRACT: _ClassVar[AccountMode]
    ACCOUNT_MODE_BY_ACCOUNT: _ClassVar[AccountMode]
    ACCOUNT_MODE_BY_ACCOUNT_DAY: _ClassVar[AccountMode]
    ACCOUNT_MODE_BY_PORTFOLIO: _ClassVar[AccountMode]
    ACCOUNT_MODE_T500: _ClassVar[AccountMode]
    ACCOUNT_MODE_T500_DEMO: _ClassVar[AccountMode]
    ACCOUNT_MODE_AUTO_LIQ: _ClassVar[AccountMode]
    ACCOUNT_MODE_UNKNOWN: _ClassVar[AccountMode]
LOGIN_RESULT_SUCCESS: LoginResult
LOGIN_RESULT_FAILED: LoginResult
LOGIN_RESULT_APPLICATION_NOT_VALID: LoginResult
LOGIN_RESULT_FIRM_NOT_ALLOWED: LoginResult
LOGIN_RESULT_USER_NOT_ALLOWED: LoginResult
LOGIN_RESULT_INCORRECT_VERSION: LoginResult
LOGIN_RESULT_LOGGED_IN_ELSEWHERE: LoginResult
LOGIN_RESULT_LOGOUT: LoginResult
LOGIN_RESULT_UNEXPECTED_DISCONNECT: LoginResult
LOGIN_RESULT_UNAUTHORIZED: LoginResult
LOGIN_RESULT_UNEXPECTED_ERROR: LoginResult
LOGIN_RESULT_ROLE_NOT_SUPPORTED: LoginResult
LOGIN_RESULT_API_MESSAGE_BACKLOG: LoginResult
LOGIN_RESULT_SERVER_MESSAGE_BACKLOG: LoginResult
LOGIN_RESULT_PASSWORD_EXPIRED: LoginResult
LOGIN_RESULT_PASSWORD_CHANGE_FAILED: LoginResult
LOGIN_RESULT_PASSWORD_ALREADY_USED: LoginResult
LOGIN_RESULT_LOCKED_OUT: LoginResult
LOGIN_RESULT_ADDITIONAL_USERS_NOT_ALLOWED: LoginResult
LOGIN_RESULT_MARKET_DATA_NOT_SETUP: LoginResult
LOGIN_RESULT_TWO_FACTOR_NOT_SETUP: LoginResult
LOGIN_RESULT_TWO_FACTOR_FAILED: LoginResult
LOGIN_RESULT_FIX_SESSION_ERROR: LoginResult
LOGIN_RESULT_TWO_FACTOR_REQUIRED: LoginResult
LOGIN_RESULT_USER_EXISTS: LoginResult
LOGIN_RESULT_UNKNOWN: LoginResult
PRICE_FORMAT_DECIMAL: PriceFormat
PRICE_FORMAT_REAL: PriceFormat
PRICE_FORMAT_CLEARING_DECIMAL: PriceFormat
ACCOUNT_MODE_BY_MARKET: AccountMode
ACCOUNT_MODE_BY_CONTRACT: AccountMode
ACCOUNT_MODE_BY_ACCOUNT: AccountMode
ACCOUNT_MODE_BY_ACCOUNT_DAY: AccountMode
ACCOUNT_MODE_BY_PORTFOLIO: AccountMode
ACCOUNT_MODE_T500: AccountMode
ACCOUNT_MODE_T500_DEMO: AccountMode
ACCOUNT_MODE_AUTO_LIQ: AccountMode
ACCOUNT_MODE_UNKNOWN: AccountMode

class LoginRequest(_message.Message):
    __slots__ = ("api_key", "firm", "username", "password", "app_name", "app_license", "price_format")
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    FIRM_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    APP_NAME_FIELD_NUMBER: _ClassVar[int]
    APP_LICENSE_FIELD_NUMBER: _ClassVar[int]
    PRICE_FORMAT_FIELD_NUMBER: _ClassVar[int]
    api_key: str
    firm: str
    username: str
    password: str
    app_name: str
    app_license: str
    price_format: PriceFormat
    def __init__(self, api_key: _Optional[str] = ..., firm: _Optional[str] = ..., username: _Optional[str] = ..., password: _Optional[str] = ..., app_name: _Optional[str] = ..., app_license: _Optional[str] = ..., price_format: _Optional[_Union[PriceFormat, str]] = ...) -> None: ...

class AuthenticationTokenRequest(_message.Message):
    __slots__ = ("request_id",)
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    def __init__(self, request_id: _Optional[str] = ...) -> None: ...

class AuthenticationToken(_message.Message):
    __slots__ = ("request_id", "token", "expire_time", "fail_message")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    FAIL_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    token: str
    expire_time: _timestamp_pb2.Timestamp
    fail_message: str
    def __init__(self, request_id: _Optional[str] = ..., token: _Optional[str] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., fail_message: _Optional[str] = ...) -> None: ...

class LoginResponse(_message.Message):
    __slots__ = ("result", "session_id", "user_id", "firm_id", "roles", "error_message", "exchanges", "accounts", "authentication_token", "firm", "username", "brand_name", "server_name")
    class Exchange(_message.Message):
        __slots__ = ()
        def __init__(self) -> None: ...
    class Account(_message.Message):
        __slots__ = ("account_id", "account_number", "account_name", "display_name", "mode")
        ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
        ACCOUNT_NUMBER_FIELD_NUMBER: _ClassVar[int]
        ACCOUNT_NAME_FIELD_NUMBER: _ClassVar[int]
        DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
        MODE_FIELD_NUMBER: _ClassVar[int]
        account_id: str
        account_number: str
        account_name: str
        display_name: str
        mode: AccountMode
        def __init__(self, account_id: _Optional[str] = ..., account_number: _Optional[str] = ..., account_name: _Optional[str] = ..., display_name: _Optional[str] = ..., mode: _Optional[_Union[AccountMode, str]] = ...) -> None: ...
    RESULT_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    FIRM_ID_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    EXCHANGES_FIELD_NUMBER: _ClassVar[int]
    ACCOUNTS_FIELD_NUMBER: _ClassVar[int]
    AUTHENTICATION_TOKEN_FIELD_NUMBER: _ClassVar[int]
    FIRM_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    BRAND_NAME_FIELD_NUMBER: _ClassVar[int]
    SERVER_NAME_FIELD_NUMBER: _ClassVar[int]
    result: LoginResult
    session_id: str
    user_id: str
    firm_id: str
    roles: _containers.RepeatedScalarFieldContainer[str]
    error_message: str
    exchanges: _containers.RepeatedCompositeFieldContainer[LoginResponse.Exchange]
    accounts: _containers.RepeatedCompositeFieldContainer[LoginResponse.Account]
    authentication_token: AuthenticationToken
    firm: str
    username: str
    brand_name: str
    server_name: str
    def __init__(self, result: _Optional[_Union[LoginResult, str]] = ..., session_id: _Optional[str] = ..., user_id: _Optional[str] = ..., firm_id: _Optional[str] = ..., roles: _Optional[_Iterable[str]] = ..., error_message: _Optional[str] = ..., exchanges: _Optional[_Iterable[_Union[LoginResponse.Exchange, _Mapping]]] = ..., accounts: _Optional[_Iterable[_Union[LoginResponse.Account, _Mapping]]] = ..., authentication_token: _Optional[_Union[AuthenticationToken, _Mapping]] = ..., firm: _Optional[str] = ..., username: _Optional[str] = ..., brand_name: _Optional[str] = ..., server_name: _Optional[str] = ...) -> None: ...
