"""The chat template of supervised fine-tuning: how one instruction example becomes token ids and a loss mask.

    </s> {system} <user> {user} <assistant> {assistant} </s> <user> {user} <assistant> {assistant} </s> ...

Exported tokenizers carry the same template for `transformers`' `apply_chat_template`
(data_pipeline/tokenizer/hf_export.py; tested to give the same ids).

An example starts as every pretraining document does, after `</s>` (`document_prefix`,
data_pipeline/tokenizer/document_start.py; the tokenizer's `<s>` is never used); `</s>` also ends each reply.
`<user>` and `<assistant>` are the tokenizer's control symbols (added by
`data_pipeline.train_tokenizer` by default, as Baichuan reserved `<reserved_102>`/`<reserved_103>` for its chat
model). A control symbol has an id but no text that encodes to it, so a prompt containing the string "<user>"
cannot forge a turn. The loss is on each assistant reply and the `</s>` that closes it — the model learns to
answer and to stop — and on nothing else: system and user text, the role markers and the opening `</s>` carry no
loss.

Accepted records (JSON objects, one per line):

    {"prompt": "...", "response": "..."}                                 one turn (optional "system")
    {"messages": [{"role": "system"|"user"|"assistant", "content": "..."}, ...]}
        an optional system message first, then user/assistant turns alternating, ending with the assistant.
"""

from __future__ import annotations

from dataclasses import dataclass

from data_pipeline.tokenizer.document_start import document_prefix
from data_pipeline.tokenizer.training import ASSISTANT_PIECE, USER_PIECE
from plumbing.user_error import UserError

CONTROL_SYMBOLS = (USER_PIECE, ASSISTANT_PIECE)


class ExampleError(ValueError):
    """A record that is not an instruction example; the message is the rejection reason (counted, not raised)."""


@dataclass(frozen=True)
class ChatTokens:
    eos: int
    user: int
    assistant: int

    @classmethod
    def of(cls, tokenizer, tokenizer_path: str = "the tokenizer") -> ChatTokens:
        """The ids of a SentencePiece processor; a tokenizer without the role symbols is a clear error."""
        ids = {}
        for symbol in CONTROL_SYMBOLS:
            piece_id = tokenizer.piece_to_id(symbol)
            if piece_id == tokenizer.unk_id() or tokenizer.id_to_piece(piece_id) != symbol:
                raise UserError(f"{tokenizer_path} has no {symbol} symbol, which the chat template needs — train the "
                                "tokenizer with data_pipeline.train_tokenizer (it adds <user> and <assistant> as "
                                "control symbols by default)")
            ids[symbol] = piece_id
        return cls(tokenizer.eos_id(), ids[USER_PIECE], ids[ASSISTANT_PIECE])

    @property
    def start(self) -> list[int]:
        """What an example starts with: what precedes a document in the token shards."""
        return document_prefix(self.eos)


def conversation(record: dict) -> tuple[str, list[tuple[str, str]]]:
    """(system text, [(role, text), ...]) of a record in either accepted shape."""
    if "messages" in record:
        messages = record["messages"]
        if not isinstance(messages, list):
            raise ExampleError("messages_not_a_list")
        if not messages:
            raise ExampleError("empty_messages")
        if not all(isinstance(m, dict) and isinstance(m.get("content"), str) for m in messages):
            raise ExampleError("message_without_text_content")
        has_system = messages[0].get("role") == "system"
        system = messages[0]["content"] if has_system else ""
        turns = [(m.get("role"), m["content"]) for m in messages[1 if has_system else 0:]]
    elif "prompt" in record and "response" in record:
        system = record.get("system", "")
        turns = [("user", record["prompt"]), ("assistant", record["response"])]
        if not all(isinstance(text, str) for _, text in turns) or not isinstance(system, str):
            raise ExampleError("prompt_or_response_not_text")
    else:
        raise ExampleError("neither_messages_nor_prompt_response")
    if not turns or len(turns) % 2:
        raise ExampleError("turns_not_user_assistant_pairs")
    for index, (role, _) in enumerate(turns):
        if role != ("user" if index % 2 == 0 else "assistant"):
            raise ExampleError("roles_not_alternating_user_assistant")
    if any(not text.strip() for role, text in turns if role == "assistant"):
        raise ExampleError("empty_response")
    return system, turns


def reply_prompt(user_text: str, tokenizer, tokens: ChatTokens, system: str = "") -> list[int]:
    """What a fine-tuned model is given to answer one user turn: everything `render` puts before a reply."""
    return [*tokens.start, *(tokenizer.encode(system) if system else []), tokens.user, *tokenizer.encode(user_text),
            tokens.assistant]


def render(record: dict, tokenizer, tokens: ChatTokens) -> tuple[list[int], list[bool]]:
    """(ids, trained): `trained[i]` is True when token i is a target the loss is taken on."""
    system, turns = conversation(record)
    ids, trained = list(tokens.start), [False] * len(tokens.start)

    def add(new_ids: list[int], loss: bool) -> None:
        ids.extend(new_ids)
        trained.extend([loss] * len(new_ids))

    if system:
        add(tokenizer.encode(system), False)
    for role, text in turns:
        if role == "user":
            add([tokens.user, *tokenizer.encode(text), tokens.assistant], False)
        else:
            add([*tokenizer.encode(text), tokens.eos], True)
    return ids, trained
