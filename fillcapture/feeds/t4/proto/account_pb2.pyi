from fillcapture.feeds.t4.proto import market_pb2 as _market_pb2
from fillcapture.feeds.t4.proto import orderrouting_pb2 as _orderrouting_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AccountSubscribeType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACCOUNT_SUBSCRIBE_TYPE_NONE: _ClassVar[AccountSubscribeType]
    ACCOUNT_SUBSCRIBE_TYPE_ALL_UPDATES: _ClassVar[AccountSubscribeType]

class UPLMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    UPL_MODE_NONE: _ClassVar[UPLMode]
    UPL_MODE_AVERAGE: _ClassVar[UPLMode]

class AccountEnabled(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACCOUNT_ENABLED_UNDEFINED: _ClassVar[AccountEnabled]

class AccountStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACCOUNT_STATUS_UNDEFINED: _ClassVar[AccountStatus]
ACCOUNT_SUBSCRIBE_TYPE_NONE: AccountSubscribeType
ACCOUNT_SUBSCRIBE_TYPE_ALL_UPDATES: AccountSubscribeType
UPL_MODE_NONE: UPLMode
UPL_MODE_AVERAGE: UPLMode
ACCOUNT_ENABLED_UNDEFINED: AccountEnabled
ACCOUNT_STATUS_UNDEFINED: AccountStatus

class AccountSubscribe(_message.Message):
    __slots__ = ("subscribe", "subscribe_all_accounts", "account_id", "upl_mode")
    SUBSCRIBE_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIBE_ALL_ACCOUNTS_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    UPL_MODE_FIELD_NUMBER: _ClassVar[int]
    subscribe: AccountSubscribeType
    subscribe_all_accounts: bool
    account_id: _containers.RepeatedScalarFieldContainer[str]
    upl_mode: UPLMode
    def __init__(self, subscribe: _Optional[_Union[AccountSubscribeType, str]] = ..., subscribe_all_accounts: _Optional[bool] = ..., account_id: _Optional[_Iterable[str]] = ..., upl_mode: _Optional[_Union[UPLMode, str]] = ...) -> None: ...

class AccountSubscribeResponse(_message.Message):
    __slots__ = ("success", "errors")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    success: bool
    errors: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, success: _Optional[bool] = ..., errors: _Optional[_Iterable[str]] = ...) -> None: ...

class AccountDetails(_message.Message):
    __slots__ = ("account_id", "account_name", "account", "enabled", "deleted", "firm_id", "firm", "display_name")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_NAME_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    DELETED_FIELD_NUMBER: _ClassVar[int]
    FIRM_ID_FIELD_NUMBER: _ClassVar[int]
    FIRM_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    account_name: str
    account: str
    enabled: AccountEnabled
    deleted: bool
    firm_id: str
    firm: str
    display_name: str
    def __init__(self, account_id: _Optional[str] = ..., account_name: _Optional[str] = ..., account: _Optional[str] = ..., enabled: _Optional[_Union[AccountEnabled, str]] = ..., deleted: _Optional[bool] = ..., firm_id: _Optional[str] = ..., firm: _Optional[str] = ..., display_name: _Optional[str] = ...) -> None: ...

class AccountSnapshotMessage(_message.Message):
    __slots__ = ("account_details", "market_details", "order_update_multi")
    ACCOUNT_DETAILS_FIELD_NUMBER: _ClassVar[int]
    MARKET_DETAILS_FIELD_NUMBER: _ClassVar[int]
    ORDER_UPDATE_MULTI_FIELD_NUMBER: _ClassVar[int]
    account_details: AccountDetails
    market_details: _market_pb2.MarketDetails
    order_update_multi: _orderrouting_pb2.OrderUpdateMulti
    def __init__(self, account_details: _Optional[_Union[AccountDetails, _Mapping]] = ..., market_details: _Optional[_Union[_market_pb2.MarketDetails, _Mapping]] = ..., order_update_multi: _Optional[_Union[_orderrouting_pb2.OrderUpdateMulti, _Mapping]] = ...) -> None: ...

class AccountSnapshot(_message.Message):
    __slots__ = ("account_id", "last_update_requested", "last_update_supplied", "status", "due_to_connection", "messages")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    LAST_UPDATE_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    LAST_UPDATE_SUPPLIED_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DUE_TO_CONNECTION_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    last_update_requested: int
    last_update_supplied: int
    status: AccountStatus
    due_to_connection: bool
    messages: _containers.RepeatedCompositeFieldContainer[AccountSnapshotMessage]
    def __init__(self, account_id: _Optional[str] = ..., last_update_requested: _Optional[int] = ..., last_update_supplied: _Optional[int] = ..., status: _Optional[_Union[AccountStatus, str]] = ..., due_to_connection: _Optional[bool] = ..., messages: _Optional[_Iterable[_Union[AccountSnapshotMessage, _Mapping]]] = ...) -> None: ...
