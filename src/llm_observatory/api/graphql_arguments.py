"""A literal argument GraphQL itself refuses is named like any other bad argument.

graphql-core reports a literal its scalar cannot parse (`usage(from: "1700000000")`,
`first: "ten"`) with the scalar's message only, without the argument or, for some
scalars, even its location. The rule below reports the same refusal as the API's
other bad arguments: "filter.from: <why>" with extensions {"code": "BAD_USER_INPUT",
"argument": "filter.from"} (api/graphql.py). A variable's bad value already names
its variable ("Variable '$from' has invalid value ...").
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError
from graphql.language import SKIP, ArgumentNode, ValueNode, VisitorAction
from graphql.type import GraphQLInputType
from graphql.utilities.validate_input_value import validate_input_literal
from graphql.validation import ValuesOfCorrectTypeRule
from strawberry.extensions import SchemaExtension

BAD_USER_INPUT = "BAD_USER_INPUT"


def bad_argument(name: str, message: str, nodes: Any = None) -> GraphQLError:
    return GraphQLError(
        f"{name}: {message}", nodes, extensions={"code": BAD_USER_INPUT, "argument": name}
    )


class NamedValuesRule(ValuesOfCorrectTypeRule):
    """ValuesOfCorrectTypeRule, its errors naming the argument and the input field."""

    argument: str | None = None

    def enter_argument(self, node: ArgumentNode, *_args: Any) -> None:
        self.argument = node.name.value

    def leave_argument(self, *_args: Any) -> None:
        self.argument = None

    def is_valid_value_node(
        self, node: ValueNode, input_type: GraphQLInputType | None
    ) -> VisitorAction:
        # ValuesOfCorrectTypeRule's own, but the error's path (within an input object)
        # is kept: "filter.from", not "filter".
        argument = self.argument
        if argument is None or input_type is None:  # a variable's default: GraphQL's words
            return super().is_valid_value_node(node, input_type)

        def on_error(error: GraphQLError, path: list[str | int]) -> None:
            name = ".".join(str(part) for part in (argument, *path))
            self.report_error(bad_argument(name, error.message, error.nodes or [node]))

        validate_input_literal(
            node, input_type, on_error, None, None, self.context.hide_suggestions
        )
        return SKIP


class NamedArgumentErrors(SchemaExtension):
    """Validation with NamedValuesRule in place of GraphQL's own rule."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        context.validation_rules = tuple(
            NamedValuesRule if rule is ValuesOfCorrectTypeRule else rule
            for rule in context.validation_rules
        )
        yield
