/* SPDX-License-Identifier: Apache-2.0 */
/* Intrusive doubly linked lists, as systemd's LIST_PREPEND/LIST_REMOVE: one unlink for all. */
#pragma once

/* `head` is the list's first item (a pointer lvalue); `item` has the fields named prev and next. */
#define LIST_PREPEND(head, item, prev, next)                                                      \
        do {                                                                                      \
                (item)->prev = NULL;                                                              \
                (item)->next = (head);                                                            \
                if ((item)->next)                                                                 \
                        (item)->next->prev = (item);                                              \
                (head) = (item);                                                                  \
        } while (0)

#define LIST_REMOVE(head, item, prev, next)                                                       \
        do {                                                                                      \
                if ((item)->prev)                                                                 \
                        (item)->prev->next = (item)->next;                                        \
                else                                                                              \
                        (head) = (item)->next;                                                    \
                if ((item)->next)                                                                 \
                        (item)->next->prev = (item)->prev;                                        \
                (item)->prev = (item)->next = NULL;                                               \
        } while (0)
