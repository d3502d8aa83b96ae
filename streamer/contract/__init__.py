"""The public contract: event types and their ids, the generated JSON Schemas, the AsyncAPI
description, the README's event reference and the schema compatibility check."""
