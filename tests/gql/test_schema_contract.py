"""The schema keeps SPEC §5: its names are the contract; ours may add, never rename or drop.

schema.graphql is regenerated from the code (test_graphiql checks that), so on its own it would
follow a rename; this test holds the code to SPEC §5 instead. The SDL below is SPEC §5 with
the Relay connections and the error types written out as the spec describes them.
"""

from __future__ import annotations

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    build_schema,
)
from graphql.pyutils import Undefined
from strawberry.printer import print_schema

from gophermart.graphql.schema import build_schema as build_our_schema

SPEC_SDL = """
scalar Decimal
scalar DateTime

enum OrderStatus { NEW PROCESSING INVALID PROCESSED }
enum TransactionType { ACCRUAL WITHDRAWAL }

type Query {
  me: User
}

type User {
  login: String!
  balance: Balance!
  order(number: String!): Order
  orders(first: Int = 20, after: String, status: [OrderStatus!],
         uploadedAfter: DateTime, uploadedBefore: DateTime): OrderConnection!
  withdrawals(first: Int = 20, after: String): WithdrawalConnection!
  transactions(first: Int = 20, after: String, type: [TransactionType!]): TransactionConnection!
}

type Balance { current: Decimal! withdrawn: Decimal! accrued: Decimal! }
type Order { number: String! status: OrderStatus! accrual: Decimal uploadedAt: DateTime! }
type Withdrawal { order: String! sum: Decimal! processedAt: DateTime! }
type Transaction {
  type: TransactionType! amount: Decimal! orderNumber: String! createdAt: DateTime!
}

type PageInfo { hasNextPage: Boolean! endCursor: String }
type OrderEdge { cursor: String! node: Order! }
type OrderConnection { edges: [OrderEdge!]! pageInfo: PageInfo! totalCount: Int! }
type WithdrawalEdge { cursor: String! node: Withdrawal! }
type WithdrawalConnection { edges: [WithdrawalEdge!]! pageInfo: PageInfo! totalCount: Int! }
type TransactionEdge { cursor: String! node: Transaction! }
type TransactionConnection { edges: [TransactionEdge!]! pageInfo: PageInfo! totalCount: Int! }

type Mutation {
  register(login: String!, password: String!): AuthResult!
  login(login: String!, password: String!): AuthResult!
  uploadOrder(number: String!): UploadOrderResult!
  withdraw(order: String!, sum: Decimal!): WithdrawResult!
}

union AuthResult = AuthSuccess | LoginTaken | InvalidCredentials | ValidationError
type AuthSuccess { token: String! user: User! }
union UploadOrderResult = OrderAccepted | OrderAlreadyUploaded | OrderUploadedByAnotherUser
  | InvalidOrderNumber | ValidationError
type OrderAccepted { order: Order! }
type OrderAlreadyUploaded { order: Order! }
union WithdrawResult = WithdrawalAccepted | InsufficientFunds | InvalidOrderNumber
  | WithdrawalConflict | ValidationError
type WithdrawalAccepted { withdrawal: Withdrawal! balance: Balance! }

type LoginTaken { message: String! }
type InvalidCredentials { message: String! }
type ValidationError { message: String! }
type OrderUploadedByAnotherUser { message: String! }
type InvalidOrderNumber { message: String! }
type InsufficientFunds { message: String! }
type WithdrawalConflict { message: String! }

type Subscription {
  orderUpdated: Order!
  balanceUpdated: Balance!
}
"""

SPEC = build_schema(SPEC_SDL)
ERROR_TYPES = (
    "LoginTaken",
    "InvalidCredentials",
    "ValidationError",
    "OrderUploadedByAnotherUser",
    "InvalidOrderNumber",
    "InsufficientFunds",
    "WithdrawalConflict",
)


@pytest.fixture(scope="module")
def ours() -> GraphQLSchema:
    return build_schema(print_schema(build_our_schema()))


def _contract_types() -> list[str]:
    return sorted(name for name in SPEC.type_map if not name.startswith("__"))


@pytest.mark.parametrize("name", _contract_types())
def test_type_keeps_the_contract(ours: GraphQLSchema, name: str) -> None:
    spec_type: GraphQLNamedType = SPEC.type_map[name]
    our_type = ours.type_map.get(name)
    assert our_type is not None, f"{name} is missing"
    assert type(our_type) is type(spec_type), f"{name} is a {type(our_type).__name__}"
    if isinstance(spec_type, GraphQLObjectType | GraphQLInterfaceType):
        assert isinstance(our_type, GraphQLObjectType | GraphQLInterfaceType)
        for field_name, spec_field in spec_type.fields.items():
            field = our_type.fields.get(field_name)
            assert field is not None, f"{name}.{field_name} is missing"
            assert str(field.type) == str(spec_field.type), f"{name}.{field_name}: {field.type}"
            for arg_name, spec_arg in spec_field.args.items():
                arg = field.args.get(arg_name)
                where = f"{name}.{field_name}({arg_name})"
                assert arg is not None, f"{where} is missing"
                assert str(arg.type) == str(spec_arg.type), f"{where}: {arg.type}"
                if spec_arg.default_value is not Undefined:
                    assert arg.default_value == spec_arg.default_value, where
            # An argument we add must not make a call written to the spec invalid.
            for arg_name, arg in field.args.items():
                if arg_name not in spec_field.args:
                    assert not str(arg.type).endswith("!"), f"{name}.{field_name}({arg_name})"
    elif isinstance(spec_type, GraphQLUnionType):
        assert isinstance(our_type, GraphQLUnionType)
        members = {member.name for member in our_type.types}
        assert {member.name for member in spec_type.types} <= members
    elif isinstance(spec_type, GraphQLEnumType):
        assert isinstance(our_type, GraphQLEnumType)
        assert set(spec_type.values) <= set(our_type.values)
    else:
        assert isinstance(spec_type, GraphQLScalarType | GraphQLInputObjectType)


def test_every_error_type_is_an_error_with_a_message(ours: GraphQLSchema) -> None:
    error = ours.type_map["Error"]
    assert isinstance(error, GraphQLInterfaceType)
    for name in ERROR_TYPES:
        our_type = ours.type_map[name]
        assert isinstance(our_type, GraphQLObjectType)
        assert error in our_type.interfaces, f"{name} does not implement Error"
        assert str(our_type.fields["message"].type) == "String!"
