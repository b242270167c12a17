"""The GraphQL interface (SPEC §5): Strawberry types, resolvers, subscriptions and GraphiQL.

Always imported absolutely as ``gophermart.graphql``: this package shares its last name with
the graphql-core library.
"""
