/*
 * tags.h — tag definitions and the tags on leads.
 *
 * Tags are namespaced ("interest:crm", "source:webinar"). A definition
 * gives a tag its category (attribute, source, behaviour, interest,
 * industry), class (fact: given; analytic: derived by a rule; predictive:
 * derived by a model), weight and optional time to live. A tag used
 * without a definition gets defaults: category from its namespace, class
 * fact, weight 1, no expiry. Every add, update, removal and expiry is kept
 * in tag_change with time and source.
 */
#ifndef NU_TAGS_H
#define NU_TAGS_H

#include <stddef.h>
#include <stdint.h>
#include "store.h"

#define NU_TAG_NAME_MAX 101

typedef struct nu_tag_def {
	char    name[NU_TAG_NAME_MAX];
	char    category[16];
	char    tag_class[16];
	double  weight;
	int64_t ttl_ms;          /* 0 = never expires */
	char    description[160];
} nu_tag_def;

typedef struct nu_tag {
	char    name[NU_TAG_NAME_MAX];
	char    category[16];
	char    tag_class[16];
	double  weight;
	char    source[64];
	int64_t at;
	int64_t expires_at;      /* 0 = never */
} nu_tag;

/* Checks a tag name; NU_EINVAL says what is wrong with it. */
int nu_tag_name_check(const char *name, nu_error *err);
int nu_tag_category_valid(const char *category);
/* The category a name's namespace implies: "interest:crm" → interest;
 * "behavior:" and "behaviour:" → behaviour; anything else → attribute. */
const char *nu_tag_default_category(const char *name);
int nu_tag_class_valid(const char *tag_class);

/* Creates or replaces a definition. Existing tags keep their weight. */
int nu_tag_def_put(nu_store *s, const nu_tag_def *def, nu_error *err);
/* 1 if tag_def already holds exactly this definition, 0 if not, < 0 on error. */
int nu_tag_def_same(nu_store *s, const nu_tag_def *def, nu_error *err);
/* The definition of `name`, or the defaults described above. */
int nu_tag_def_get(nu_store *s, const char *name, nu_tag_def *def, nu_error *err);

/* Adds (or refreshes) a tag. weight < 0 means "the definition's weight". */
int nu_tag_add(nu_store *s, int64_t lead_id, const char *name, double weight,
	       const char *source, nu_error *err);
/* Removes a tag; NU_ENOTFOUND if the lead does not have it. */
int nu_tag_remove(nu_store *s, int64_t lead_id, const char *name,
		  const char *source, nu_error *err);
/* 1 if the lead has the (unexpired) tag, 0 if not, < 0 on error. */
int nu_tag_has(nu_store *s, int64_t lead_id, const char *name, nu_error *err);
/* Unexpired tags of a lead, by name. *out is freed with free(). */
int nu_tag_list(nu_store *s, int64_t lead_id, nu_tag **out, size_t *n,
		nu_error *err);
/* Deletes tags whose time has passed, logging each as expired. */
int nu_tag_expire(nu_store *s, size_t *expired, nu_error *err);

#endif
