"""The offline generator's phrasebook: English and Spanish copy per tone and channel.

Every line is a whole sentence or headline with slots: ``{product}`` (a product name
taken from a content item, see ``copywriter.product_name``), ``{segment}`` /
``{Segment}`` (the caller's audience segment, capitalized at a sentence start),
``{campaign}`` (the campaign's name, or "our collection"), ``{n}`` (a KPI figure).
Headlines and angles avoid agreement with the product (it may be singular or plural,
masculine or feminine), so no slot filling makes a broken sentence. Nothing claims a
discount, price, deadline or stock level: the grounding has no such facts.

Ten headlines and ten angles per language: variant ``n`` uses headline ``n`` and angle
``n``, so up to ten variants are distinct by construction.
"""

from __future__ import annotations

from typing import Final

LANGUAGES: Final = ("en", "es")
TONES: Final = ("friendly", "professional", "playful", "urgent", "luxury")

HEADLINES: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "friendly": (
            "Picked for {segment}: {product}",
            "Something nice for {segment}: {product}",
            "Hi {segment}! Meet {product}",
            "We think you'll like this: {product}",
            "A little something for {segment}",
            "Your next favourite: {product}",
            "Good news for {segment}",
            "Made with {segment} in mind: {product}",
            "Hello from {campaign}: {product}",
            "Take a look, {segment}: {product}",
        ),
        "professional": (
            "Introducing {product} for {segment}",
            "Now available: {product}",
            "Designed for {segment}: {product}",
            "{Campaign}: {product}, now available",
            "For {segment}: {product}",
            "A considered choice for {segment}",
            "Product update: {product}",
            "Built for performance: {product}",
            "Recommended for {segment}: {product}",
            "How {product} fits your routine",
        ),
        "playful": (
            "Psst, {segment}: {product}",
            "Guess what just landed? {product}",
            "Plot twist: {product} for {segment}",
            "Warning: {product} may cause smiles",
            "Hey {segment}, ready for some fun?",
            "Spoiler alert: {product}",
            "Knock knock. Who's there? {product}",
            "Your weekend plans called: {product}",
            "A tiny treat for {segment}: {product}",
            "Oh hello, {product}",
        ),
        "urgent": (
            "Don't miss this, {segment}: {product}",
            "Act now: {product}",
            "Today is the day: {product}",
            "Don't wait, {segment}: {product}",
            "Right now for {segment}: {product}",
            "Move fast: {product}",
            "Heads up, {segment}: {product}",
            "Time to act: {product}",
            "Don't let this pass: {product}",
            "Quick, {segment}: {product}",
        ),
        "luxury": (
            "Discover {product}",
            "An invitation for {segment}",
            "Exclusively for {segment}: {product}",
            "Crafted for {segment}: {product}",
            "Refined for {segment}: {product}",
            "A private preview: {product}",
            "Timeless and considered: {product}",
            "Reserved for {segment}",
            "Elegance, redefined: {product}",
            "With our compliments, {segment}",
        ),
    },
    "es": {
        "friendly": (
            "Elegido para {segment}: {product}",
            "Algo especial para {segment}: {product}",
            "¡Hola! Te presentamos {product}",
            "Creemos que te va a encantar: {product}",
            "Un detalle para {segment}",
            "Tu próximo favorito: {product}",
            "Buenas noticias para {segment}",
            "Pensado para {segment}: {product}",
            "Hola desde {campaign}: {product}",
            "Échale un vistazo: {product}",
        ),
        "professional": (
            "Presentamos {product} para {segment}",
            "Ya disponible: {product}",
            "Diseñado para {segment}: {product}",
            "{Campaign}: {product}, ya disponible",
            "Para {segment}: {product}",
            "Una elección pensada para {segment}",
            "Novedad: {product}",
            "Pensado para el rendimiento: {product}",
            "Recomendado para {segment}: {product}",
            "Así encaja {product} en tu rutina",
        ),
        "playful": (
            "Psst, {segment}: {product}",
            "¿Adivina qué acaba de llegar? {product}",
            "Giro inesperado: {product} para {segment}",
            "Aviso: {product} puede provocar sonrisas",
            "Oye, {segment}, ¿listos para divertirse?",
            "Alerta de spoiler: {product}",
            "Toc, toc. ¿Quién es? {product}",
            "Tus planes del finde llamaron: {product}",
            "Un capricho para {segment}: {product}",
            "Vaya, vaya: {product}",
        ),
        "urgent": (
            "No te lo pierdas, {segment}: {product}",
            "Actúa ya: {product}",
            "Hoy es el día: {product}",
            "No esperes, {segment}: {product}",
            "Ahora mismo para {segment}: {product}",
            "Date prisa: {product}",
            "Atención, {segment}: {product}",
            "Es el momento: {product}",
            "Que no se te escape: {product}",
            "Rápido, {segment}: {product}",
        ),
        "luxury": (
            "Descubre {product}",
            "Una invitación para {segment}",
            "En exclusiva para {segment}: {product}",
            "Creado para {segment}: {product}",
            "Refinado para {segment}: {product}",
            "Un adelanto privado: {product}",
            "Atemporal y cuidado: {product}",
            "Reservado para {segment}",
            "La elegancia, redefinida: {product}",
            "Con todo nuestro aprecio, {segment}",
        ),
    },
}

# Tone-neutral sentences naming the product and the segment (the body's distinct part).
ANGLES: dict[str, tuple[str, ...]] = {
    "en": (
        "{product}, chosen with {segment} in mind.",
        "For {segment}, meet {product} from {campaign}.",
        "{Segment}, say hello to {product}.",
        "{product}: ready for {segment}.",
        "{Segment}, take a closer look at {product}.",
        "Waiting for {segment}: {product}.",
        "Made for {segment}: {product}.",
        "Here for {segment}: {product}.",
        "{Segment} will find {product} in {campaign}.",
        "One for {segment} to see: {product}.",
    ),
    "es": (
        "{product}, elegido pensando en {segment}.",
        "Para {segment}: {product}, de {campaign}.",
        "{Segment}: les presentamos {product}.",
        "{product}: a punto para {segment}.",
        "De cerca, para {segment}: {product}.",
        "Esperando a {segment}: {product}.",
        "Hecho para {segment}: {product}.",
        "Aquí, para {segment}: {product}.",
        "En {campaign}, para {segment}: {product}.",
        "Para que {segment} lo vea: {product}.",
    ),
}

# Short sentences that set the tone at the start of a body (cycled per variant).
LEADS: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "friendly": ("Hi there!", "Good news!", "We think you'll love this."),
        "professional": ("Introducing something new.", "Now available.", "Designed with care."),
        "playful": ("Psst!", "Guess what?", "Plot twist!"),
        "urgent": ("Don't wait!", "Act now!", "Don't miss this!"),
        "luxury": (
            "Discover something exceptional.",
            "An invitation, just for you.",
            "Exclusively yours.",
        ),
    },
    "es": {
        "friendly": ("¡Hola!", "¡Buenas noticias!", "Creemos que te va a encantar."),
        "professional": ("Presentamos una novedad.", "Ya disponible.", "Diseñado con cuidado."),
        "playful": ("¡Psst!", "¿Adivina qué?", "¡Giro inesperado!"),
        "urgent": ("¡No esperes!", "¡Actúa ya!", "¡No te lo pierdas!"),
        "luxury": (
            "Descubre algo excepcional.",
            "Una invitación, solo para ti.",
            "En exclusiva para ti.",
        ),
    },
}

GREETINGS: dict[str, dict[str, str]] = {
    "en": {
        "friendly": "Hi {segment},",
        "professional": "Hello,",
        "playful": "Hey {segment}!",
        "urgent": "Hi {segment},",
        "luxury": "Dear {segment},",
    },
    "es": {
        "friendly": "Hola, {segment}:",
        "professional": "Hola:",
        "playful": "¡Hola, {segment}!",
        "urgent": "Hola, {segment}:",
        "luxury": "Estimados {segment}:",
    },
}

CTAS: dict[str, dict[str, str]] = {
    "en": {
        "friendly": "Take a look",
        "professional": "Learn more",
        "playful": "Come and see",
        "urgent": "Shop now",
        "luxury": "Discover more",
    },
    "es": {
        "friendly": "Échale un vistazo",
        "professional": "Más información",
        "playful": "Ven a verlo",
        "urgent": "Compra ya",
        "luxury": "Descubre más",
    },
}

# Grounded in the campaign's KPI totals: conversions over the period, or its CTR.
CONVERSIONS_HOOK = {"en": "Already chosen by {n} customers.", "es": "Ya lo eligieron {n} clientes."}
CTR_HOOK = {"en": "One of our most-clicked picks.", "es": "Una de nuestras propuestas más vistas."}
ALSO = {"en": "Also in {campaign}: {others}.", "es": "También en {campaign}: {others}."}
AND = {"en": " and ", "es": " y "}
OUR_COLLECTION = {"en": "our collection", "es": "nuestra colección"}

# Campaign names are facts, but "Summer sale" is not how a luxury message talks: in that
# tone a name with bargain wording is replaced by "our collection".
BARGAIN_WORDS = ("sale", "deal", "discount", "off", "cheap", "oferta", "descuento", "rebaja")
# How a subject addresses the reader when "for <segment>" makes it too long.
FOR_SEGMENT = {"en": ("for {segment}", "for you"), "es": ("para {segment}", "para ti")}
