/* Internal engine helpers. */
#ifndef SMELT_ENGINE_INTERNAL_H
#define SMELT_ENGINE_INTERNAL_H

/* Template used when a model's GGUF has no tokenizer.chat_template. Never NULL. */
const char *smelt_builtin_chat_template(const char *arch);

#endif
