"""Cue lexicons for `handlers.classify_offline` (data only; compiled once at import there).
The language-detection data (stopwords, accented letters) lives in `handlers.language`.

Entry syntax, shared by every table below:
- entries are folded exactly like message text (NFKC, casefold, accents and Arabic harakat
  stripped, Arabic ي/ك → Persian ی/ک, apostrophes dropped), so write them naturally:
  "doesn't work", "díky", "نمی‌کنه" all match their unaccented / differently typed forms;
- in word scripts (Latin, Cyrillic, Greek, Arabic, Hebrew) an entry matches whole words, so
  "price" does not fire inside "priceless"; a trailing `*` makes the last word a prefix
  ("refund*" → refunds, refunded); multi-word entries match consecutive words;
- in Han, Kana, Hangul, Devanagari and Thai an entry matches as a substring (no reliable word
  boundaries there), and the longest entry at a position wins, so negated forms such as
  "不好用" or "अच्छा नहीं" are listed as entries of their own;
- a leading `~` marks a weak cue (weight 0.5: two are needed to decide an intent), a leading
  `+` a decisive one (weight 2, used for unambiguous spam phrases).

Languages are grouped per table only to keep them reviewable: all of them are matched on every
message, because customers code-switch ("refund चाहिए", "app 不能用").
"""

from __future__ import annotations

Lexicon = dict[str, tuple[str, ...]]  # language → cue entries

# The formatter would put every entry on its own line (thousands of lines); these tables
# read better packed, like the word lists they are.
# fmt: off

COMPLAINT: Lexicon = {
    "en": (
        "broke*", "crash*", "keeps crashing", "doesn't work", "does not work", "don't work",
        "not working", "isn't working", "stopped working", "never works", "won't load",
        "won't open", "won't start", "won't sync", "won't work", "won't let me", "~won't",
        "doesn't load", "doesn't open", "doesn't sync", "not loading", "can't log in",
        "can't login", "can't sign in", "can't access", "cannot access", "unable to", "~can't",
        "fail*", "error*", "~bug", "~bugs", "buggy", "glitch*", "freez*", "frozen", "stuck",
        "laggy", "~slow", "refund*", "money back", "charged twice", "double charged",
        "overcharged", "charged me", "terrible", "horrible", "awful", "worst", "useless",
        "garbage", "trash", "unacceptable", "ridiculous", "disappoint*", "frustrat*",
        "annoying", "still waiting", "no response", "no reply", "nobody replied", "ignored",
        "scam", "rip off", "ripoff", "lost my", "lost all", "deleted my", "deleted all",
        "disappeared", "vanished", "data loss", "does nothing", "do nothing", "not fixed",
        "isn't fixed", "still broken", "cancel my", "unsubscribe", "complain*", "~problem",
        "~problems", "~issue", "~issues", "problem with", "issue with", "~wrong", "sucks",
        "is down", "are down", "outage", "not received", "never arrived", "didn't receive",
        "don't receive", "haven't received", "never got", "can't find my", "~anymore",
        "never came", "never comes", "never arrive*", "never again", "cancel*", "blank screen",
        "white screen", "black screen", "blank page", "nothing loads", "nothing happens",
        "not load*", "logs me out", "logged me out", "logging me out", "~keeps", "~missing",
        "~gone", "double billed", "billed twice", "overbilled", "charged again", "timed out",
        "times out", "not responding", "unresponsive", "hangs", "too slow", "so slow",
        "downtime", "pissed", "fed up", "sick of", "tired of", "waste of", "nightmare",
        "pathetic", "shame", "incompetent", "misleading", "no help", "still not", "still no",
        "still doesn't", "went wrong", "messed up", "corrupt*", "can't use", "can't connect",
        "can't open", "can't download", "can't upload", "can't pay", "can't cancel",
        "doesn't show", "not showing", "not syncing", "wiped", "access denied", "denied",
        "step backwards", "step back", "bring back", "~stops", "~stopped", "~randomly",
        "lost a customer", "switched to", "~competitor", "leaving", "going elsewhere",
        "downgrad*", "worse", "not happy", "unhappy", "regret*", "~declined", "locked out",
        "can't get in",
    ),
    "es": (
        "no funciona", "no sirve", "no puedo", "no me deja", "no me llega", "no carga",
        "no abre", "no anda", "dejó de funcionar", "falla*", "fallo", "error*", "reembols*",
        "devolución", "devuélvan*", "me cobraron", "dos veces", "cobro doble", "doble cobro",
        "pésimo", "pésima", "horrible", "terrible", "fatal", "lo peor", "peor", "basura",
        "estafa", "vergüenza", "qué mal", "muy mal", "se cierra", "se cuelga", "se traba",
        "caído", "caída", "esperando", "sin respuesta", "nadie responde", "~problema*",
        "queja*", "reclam*", "decepcion*", "harto", "harta", "cancelar mi cuenta",
        "dar de baja", "no recibí", "inaceptable", "sin poder", "no se puede", "no deja",
        "no me funciona", "no responde*", "no contestan", "nadie contesta", "porquería", "asco",
        "arrepient*", "arrepentid*", "decepcionad*", "lentísim*", "muy lent*", "se borr*",
        "perdí", "desapareci*", "bloquead*", "cobro indebido", "me cobraron de más", "timo",
        "engaño", "sigue sin", "todavía no", "aún no", "~otra vez", "~qué pasa", "cancel*",
        "~sigue en", "me cobran", "~no entiendo", "~por qué me",
    ),
    "cs": (
        "nefung*", "nejde", "nejede", "padá", "spadl*", "zasekl*", "zamrz*", "chyb*",
        "~problém*", "nelze", "nemůžu", "nemůžeme", "nemohu", "vrátit peníze", "vrácení peněz",
        "vraťte*", "reklamac*", "hrozn*", "strašn*", "nejhorš*", "katastrof*", "otřesn*",
        "čekám", "čekáme", "~pořád", "zruš*", "strhl*", "~dvakrát", "nechod*", "nepřiš*",
        "nenačít*", "nereaguj*", "nesynchron*", "k ničemu", "naprd", "zklam*", "stížnost*",
        "podvod*", "nespokoj*", "nepřihlás*", "~furt", "šílen*", "nic se neděje", "nenačte",
        "nespustí", "nedá se", "zmizel*", "smazal*", "ztratil*", "přišel jsem o", "děsn*",
        "hrůz*", "tragick*", "nesmysl", "nikdo neodpovídá", "žádná odpověď", "bez odpovědi",
        "nefunkční", "rozbit*", "blbě", "nereagu*", "nenabíhá", "pořád nic", "ještě pořád",
        "rozsypal*", "rozbil*", "~co s tím",
    ),
    "fa": (
        "کار نمیکن*", "کار نمیده", "خراب*", "افتضاح*", "بدترین*", "برگردون*", "برگردان*",
        "بازپرداخت*", "پس بدید", "پولم*", "کم شده", "کسر شده", "دو بار", "منتظر*",
        "باز نمیشه", "باز نمیشود", "نمیشه وارد", "قطع*", "~مشکل*", "ایراد*", "باگ*", "کرش*",
        "قفل شده", "اشتباه*", "~پیگیری*", "کلاهبرداری*", "شکایت*", "ناراضی*", "لغو اشتراک",
        "جواب نمیدید", "جواب ندادید", "~نمیتون*", "~نمیشه", "جواب نمید*", "هیچ جواب*",
        "خیلی بد*", "داغون*", "مزخرف*", "آشغال*", "ارور*", "خطا*", "کند شده", "هنگ*",
        "پاک شد*", "گم شد*", "ناپدید*", "~لغو*", "اعصاب*", "ناامید*", "ضرر*", "وارد نمیشه",
        "بسته میشه", "~مدام", "~همش", "~هیچکس", "چه وضع*",
    ),
    "zh": (
        "不能用", "用不了", "打不开", "坏了", "太差", "很差", "差劲", "垃圾", "退款", "退钱",
        "扣了两次", "重复扣费", "扣费", "闪退", "崩溃", "宕机", "卡死", "报错", "错误", "失败",
        "~问题", "投诉", "收不到", "没收到", "登不上", "没有人回复", "没人回复", "没人理",
        "等了", "~还没", "骗子", "失望", "不好用", "太慢", "无法", "丢了", "丢失", "不见了",
        "消失", "没反应", "卡顿", "很卡", "太卡", "不回", "不理", "没人管", "怎么回事", "~老是",
        "~总是", "~一直", "不行", "~不了", "坑人", "烂", "差评", "气死", "无语", "崩了", "挂了",
        "出错", "扣钱", "乱扣", "多扣", "取消订阅", "没开通", "没到账", "怎么搞的", "烦死", "~烦",
    ),
    "hi": (
        "काम नहीं कर", "काम नहीं करता", "खराब", "बेकार", "रिफंड", "पैसे वापस", "पैसे कट",
        "दो बार", "इंतज़ार", "बंद हो गया", "बंद हो जाता", "~समस्या", "~दिक्कत", "परेशान",
        "बग", "क्रैश", "नहीं खुल", "गलत", "धोखा", "शिकायत", "नहीं मिला", "नहीं आया",
        "लॉगिन नहीं", "बहुत धीमा", "नहीं हुआ", "नहीं हो रहा", "नहीं हो रही", "नहीं चल",
        "नहीं मिल", "स्लो", "हैंग", "अटक", "गायब", "डिलीट हो", "बकवास", "घटिया", "एरर",
        "फ्रॉड", "चीटिंग", "लूट", "जवाब नहीं", "रिप्लाई नहीं", "कैंसल", "नहीं आ",
    ),
    "de": ("funktioniert nicht", "geht nicht", "stürzt", "absturz", "fehler", "erstattung",
           "langsam"),
    "fr": ("ne marche pas", "ne fonctionne pas", "bug", "remboursement", "nul", "plante",
           "ne marche plus", "marche pas", "ne fonctionne plus", "plus rien", "lent*"),
    "pt": ("não funciona", "não consigo", "reembolso", "péssimo", "travando", "erro", "lent*"),
    "it": ("non funziona", "rimborso", "pessimo", "lent*", "non va"),
    "pl": ("nie działa", "zwrot pieniędzy", "błąd*"),
    "ru": ("не работает", "не могу", "ошибк*", "возврат*", "ужасн*", "вылетает"),
    "uk": ("не працює", "помилк*"),
    "ja": ("できません", "使えない", "動かない", "エラー", "不具合", "返金", "最悪", "落ちる"),
    "ar": ("لا يعمل", "لا تعمل", "استرداد", "سيء", "أسوأ", "معطل", "~مشكلة"),
}

QUESTION: Lexicon = {
    "en": (
        "how do i", "how do you", "how can i", "how to", "how does", "is there", "are there",
        "is it possible", "can i", "can you", "could you", "do you", "does it", "does this",
        "where do i", "where can i", "where is", "~how", "~what", "~where", "~when", "~why",
        "~which", "any way to", "anyone know", "wondering", "~need help", "~help me",
        "question", "~please help", "does anyone", "what is the", "what's the", "how long",
        "~how many", "~available", "do you support", "does it support", "is there any",
        "can it", "will there be", "when will", "any plans to", "~roadmap", "is it normal",
        "should i", "what happens if", "who should", "who do i", "are you", "~wonder",
    ),
    "es": (
        "~cómo", "~dónde", "~cuándo", "~por qué", "se puede", "~puedo", "me pueden ayudar",
        "me puede ayudar", "alguien sabe", "pregunta", "duda", "~ayuda", "cómo puedo",
        "cómo se", "es posible", "hay forma", "hay manera", "a qué hora", "~cuál", "~qué",
    ),
    "cs": ("~jak", "~kde", "~kdy", "~proč", "~jestli", "dá se", "je možné", "~můžu",
           "nevíte", "poradíte", "poradit", "dotaz", "~jde to", "jde nějak", "dá se nějak",
           "jak můžu", "jak mám", "~nevím jak", "kde najdu", "~kde je", "~jaký", "~jaká",
           "~jaké", "~který", "~můžete"),
    "fa": ("چطور*", "چگونه", "چجوری", "چطوری", "کجا*", "چرا", "آیا", "~چه", "~میشه",
           "سوال*", "میتونم", "~بگید", "~کی", "~چیه", "چه جوری", "~راهنمایی*"),
    "zh": ("怎么", "如何", "~吗", "哪里", "在哪", "哪儿", "请问", "为什么", "是否", "能不能",
           "可不可以", "~有没有", "什么时候", "多久", "能否", "可否", "~是不是", "怎样", "咋",
           "~啥"),
    "hi": ("कैसे", "क्या", "कहाँ", "कहां", "कब", "क्यों", "कौन", "किस", "~बताइए", "~बताएं",
           "~बताओ", "कोई तरीका"),
    "de": ("wie kann", "wo finde", "~warum"),
    "fr": ("comment", "~pourquoi", "où est"),
    "pt": ("~como", "onde"),
    "ru": ("~как", "где", "почему"),
    "ja": ("ですか", "ますか", "どうすれば", "どうやって"),
    "ar": ("كيف", "هل", "لماذا", "أين", "متى"),
}

PURCHASE: Lexicon = {
    "en": (
        "price", "prices", "priced", "pricing", "how much", "cost", "costs", "buy", "buying",
        "purchas*", "quote", "quotation", "demo", "free trial", "discount*", "coupon", "promo code",
        "~plan", "pro plan", "team plan", "enterprise", "upgrade*", "licen*", "~subscription",
        "~subscribe", "seats", "~billing", "~annual", "~yearly", "tier", "per seat", "per user",
        "~order", "pre-order", "preorder", "interested in", "sales team", "talk to sales",
        "deal", "deals", "black friday", "cyber monday", "offer", "offers", "on sale", "promo",
        "bulk", "volume discount", "seat", "how many seats", "~monthly", "lifetime",
        "~credit card", "pay by", "payment options", "reseller", "procurement", "rfp", "trial",
        "~sign up", "~evaluat*", "~considering", "switch to", "migrate to", "~for our team",
        "~for my team", "for our company", "~contract", "~premium", "~pro version", "sales",
        "~compare*", "compared to", "which plan", "~include", "~includes", "free plan",
        "free tier", "free version",
    ),
    "es": (
        "cuánto cuesta", "cuánto vale", "cuánto sale", "precio", "precios", "costo*", "comprar",
        "compra", "adquirir", "cotización", "cotizar", "presupuesto", "descuento*",
        "promoción", "oferta", "demo", "prueba gratis", "~plan", "suscripción",
        "licencia*", "tarifa*", "versión pro", "contratar", "planes", "ventas",
        "~corporativ*", "~empresa*", "plan para", "~mensual", "~anual", "promo", "~estudiantes",
        "~pagar", "versión premium", "cuánto sale", "me interesa",
    ),
    "cs": (
        "kolik stojí", "kolik to stojí", "cena", "ceny", "cenu", "ceník*", "cenov*", "koupit",
        "koupě", "koupím", "zakoupit", "objedn*", "předplatn*", "licenc*", "slev*",
        "nabídk*", "nabídn*", "demo", "ukázk*", "tarif*", "firemní", "zkušebn*",
        "~nasadit", "~pro firmy", "~zaplatit", "předplatit", "~prodloužit", "upgrad*",
        "vyšší tarif", "kolik by", "kolik za",
    ),
    "fa": ("قیمت*", "چنده", "چند است", "خرید*", "بخر*", "تخفیف*", "اشتراک*", "پلن*", "دمو",
           "هزینه*", "پیش فاکتور", "نسخه حرفه*", "~چقدر*", "نسخه سازمانی", "~سازمانی",
           "~پرداخت*", "ارتقا*", "نسخه پریمیوم", "لایسنس*", "~شرکت*"),
    "zh": ("多少钱", "价格", "价钱", "报价", "购买", "想买", "优惠", "折扣", "演示", "试用",
           "套餐", "企业版", "专业版", "订阅", "收费", "~团队版", "年费", "月费", "付费", "开通",
           "续费", "升级", "~买", "怎么卖", "价位", "费用", "团队价", "优惠价", "报个价"),
    "hi": ("कीमत", "दाम", "कितने का", "कितने की", "~कितना", "खरीद", "प्लान", "डेमो", "छूट",
           "डिस्काउंट", "सब्सक्रिप्शन", "कोटेशन", "प्रीमियम", "ऑफर", "~लेना है", "रेट", "प्राइस",
           "~चार्ज", "अपग्रेड करना", "डील", "सेल"),
    "de": ("preis*", "kosten", "kaufen", "angebot"),
    "fr": ("prix", "tarif*", "acheter", "devis"),
    "pt": ("quanto custa", "preço*", "comprar", "plano*", "orçamento"),
    "it": ("quanto costa", "prezz*"),
    "ru": ("сколько стоит", "цена", "цены", "цену", "купить"),
    "ja": ("いくら", "価格", "料金", "購入", "見積"),
    "ar": ("سعر", "أسعار", "كم سعر", "شراء", "خصم"),
}

PRAISE: Lexicon = {
    "en": (
        "thank*", "thx", "ty", "tysm", "love", "loving", "loved", "awesome", "amazing",
        "great job", "great work", "well done", "kudos", "congrat*", "fantastic", "excellent",
        "brilliant", "perfect", "impressed", "happy with", "so much better", "game changer",
        "lifesaver", "life saver", "saved me", "appreciate*", "you rock", "nice work",
        "good job", "cheers", "helpful", "~great", "~nice", "~good", "~cool", "works great",
        "works perfectly", "recommend*", "~fixed", "~super", "wonderful", "best app",
        "best support", "shoutout", "shout out", "incredible", "outstanding", "superb",
        "stellar", "legend*", "props", "hats off", "top notch", "first class", "5 stars",
        "five stars", "so good", "really good", "very good", "like a charm", "love this",
        "big fan", "huge fan", "nailed it", "keep up the good work", "keep it up", "~sorted",
        "solved my", "fixed my", "~resolved", "quick fix", "fast response", "quick response",
        "so helpful", "very helpful", "blown away", "delighted", "thrilled", "grateful",
        "chefs kiss", "~got it working",
    ),
    "es": (
        "gracias", "excelente", "me encant*", "genial", "buenísim*", "increíble", "perfecto",
        "muy bien", "bien hecho", "recomiend*", "felicidades", "felicitaciones", "lo máximo",
        "maravill*", "fantástic*", "~bien", "~bueno", "~buena", "resolvieron", "solucionado",
        "muy buena", "muy bueno", "buen servicio", "mil gracias", "un crack", "cracks",
        "bravo", "de lujo", "espectacular", "me salvaron", "encantad*", "me gusta",
        "me gustó", "~súper",
    ),
    "cs": (
        "díky", "dík", "děkuj*", "~super", "skvěl*", "paráda", "výborn*", "perfektn*",
        "úžasn*", "spokojen*", "bomba", "palec nahoru", "už to jede", "už jede",
        "už funguje", "vše funguje", "všechno funguje", "doporuč*", "dobrá práce", "pochvala",
        "pěkn*", "hezk*", "fajn", "bezva", "jste nejlepší", "~nejlepší", "pecka", "luxus",
        "oceňuj*", "chválím", "~mega", "~top", "klobouk dolů", "vyřešil*", "borci",
        "šikovn*",
    ),
    "fa": ("ممنون*", "مرسی", "متشکر*", "سپاس*", "عالی*", "دستتون درد نکنه", "دستت درد نکنه",
           "دمتون گرم", "دمت گرم", "~خوب*", "بهترین*", "فوق العاده*", "لذت*", "حرف نداره",
           "سپاسگزار*", "محشر*", "بی نظیر", "دستمریزاد", "آفرین", "ایول", "خسته نباشید",
           "لطف کردید", "لطف دارید", "راضی*", "قشنگ*", "خفن*"),
    "zh": ("谢谢", "感谢", "太棒", "好棒", "好用", "喜欢", "点赞", "厉害", "推荐", "优秀",
           "满意", "很好", "非常好", "太好", "解决了", "给力", "辛苦了", "实用", "好评",
           "五星", "赞", "很棒", "真棒", "完美", "贴心", "靠谱", "感动", "佩服", "漂亮", "顺手",
           "耐心", "好看"),
    "hi": ("धन्यवाद", "शुक्रिया", "बढ़िया", "शानदार", "अच्छा", "बेहतरीन", "मस्त", "कमाल",
           "पसंद", "हल हो गई", "हल हो गया", "थैंक", "~मदद की", "वाह", "सुपर", "जबरदस्त",
           "लाजवाब", "बेस्ट", "लव", "बहुत काम का", "सबको बताऊंगा"),
    "de": ("danke", "super", "toll", "klasse"),
    "fr": ("merci", "génial", "bravo", "parfait"),
    "pt": ("obrigad*", "ótimo", "excelente", "adorei"),
    "it": ("grazie", "benissimo", "ottimo"),
    "pl": ("dziękuj*", "dzięki", "świetn*"),
    "ru": ("спасибо", "отлично", "супер", "класс"),
    "uk": ("дякую", "чудово", "ідеально"),
    "ja": ("ありがとう", "素晴らしい", "最高", "助かり"),
    "ar": ("شكرا", "ممتاز", "رائع", "أحسنتم"),
    "ko": ("감사", "고맙", "최고"),
    "he": ("תודה", "מעולה"),
    "th": ("ขอบคุณ",),
    "el": ("ευχαριστώ", "τέλειο"),
}

SPAM: Lexicon = {
    "en": (
        "+dm me for", "+dm for", "~dm me", "+follow back", "+follow for follow", "+f4f",
        "+free followers", "+get followers", "+buy followers", "+click here", "+link in bio",
        "+crypto signals", "+forex", "+binance", "+airdrop", "+guaranteed profit",
        "+guaranteed returns", "+work from home", "~from home", "+earn money", "+make money",
        "+passive income", "+no experience needed", "+investment opportunity", "+onlyfans",
        "+check my profile", "+100% guaranteed", "giveaway", "earn", "~crypto", "~bitcoin",
        "~btc", "~usdt", "~nft", "~profit", "~income", "~telegram", "~whatsapp", "~free",
        "~winner", "~claim", "~cash", "~trading", "~signals", "followers", "visit our",
        "~24h", "~per week", "~per day", "+link below", "~retweet", "+follow to enter",
        "+retweet and follow", "~course",
    ),
    "es": ("+gana dinero", "+ganar dinero", "+dinero fácil", "+desde casa", "~escríbeme",
           "~criptomoneda*", "~inversión", "+sígueme", "+haz clic aquí", "+seguidores gratis",
           "+ingresos pasivos", "~gana", "+info al privado", "al privado", "~por semana",
           "~por día", "+mándame mensaje"),
    "cs": ("vydělej*", "vydělat", "výdělek", "+z domova", "+klikněte zde", "~zdarma",
           "~investic*", "+pasivní příjem"),
    "fa": ("+درآمد دلاری", "+کسب درآمد", "~درآمد*", "دایرکت*", "~فالو*", "+فالوور رایگان",
           "~رایگان", "~بیت کوین", "~ارز دیجیتال", "~سیگنال*", "از خانه", "کلیک کنید",
           "+لینک در بیو", "+کار در منزل", "~در منزل", "~میلیونر*", "~سرمایه گذاری",
           "~سود*", "~پیام بدید"),
    "zh": ("+加微信", "+日赚", "+免费领取", "~比特币", "兼职", "+稳赚", "+躺赚", "点击链接",
           "+刷单", "返利", "加群", "~私聊", "赚钱", "+日结", "+有意私聊", "+月入", "引流",
           "代理加盟"),
    "hi": ("+घर बैठे", "कमाएं", "~कमाई", "+लिंक पर क्लिक", "~फ्री", "~मुफ्त", "~बिटकॉइन",
           "~निवेश", "+ऑनलाइन काम", "~हर महीने", "~संपर्क करें", "+घर से काम",
           "व्हाट्सएप करें", "~कमा", "~मैसेज करो", "~लगाकर"),
}

GREETING: Lexicon = {  # small talk: "other" unless a real intent cue is present
    "en": ("happy friday", "happy monday", "happy holidays", "happy new year",
           "merry christmas", "have a nice day", "have a great day", "have a good weekend",
           "nice weekend", "good morning", "good night", "season's greetings"),
    "es": ("feliz año", "feliz navidad", "felices fiestas", "buen fin de semana",
           "buenos días", "buenas noches", "feliz día"),
    "cs": ("krásné svátky", "veselé vánoce", "hezký víkend", "přeji", "šťastný nový rok"),
    "fa": ("عید مبارک", "سال نو مبارک", "روز بخیر", "شب بخیر", "وقت بخیر"),
    "zh": ("周末愉快", "新年快乐", "节日快乐", "早上好", "晚安", "春节快乐", "中秋快乐"),
    "hi": ("शुभकामनाएं", "मुबारक", "सुप्रभात", "शुभ रात्रि", "हैप्पी"),
}

POSITIVE: Lexicon = {
    "en": ("good", "great", "nice", "glad", "pleased", "smooth*", "easy", "easier", "better",
           "best", "beautiful", "cool", "fun", "enjoy*", "solved", "intuitive", "reliable",
           "lovely", "superb", "wow", "yay", "happy"),
    "es": ("bueno", "buena", "feliz", "contento", "contenta", "rápido", "fácil", "mejor"),
    "cs": ("dobře", "snadn*", "příjemn*", "lepší", "jednoduch*", "krásn*"),
    "fa": ("سریع*", "راحت*", "بهتر*", "خوشحال*"),
    "zh": ("快多了", "方便", "开心", "不错", "愉快", "快乐"),
    "hi": ("तेज", "आसान", "खुश", "अच्छी"),
    "de": ("schnell*", "gut"),
    "it": ("bene",),
}

NEGATIVE: Lexicon = {
    "en": ("bad", "hate*", "angry", "furious", "upset", "poor", "annoyed", "sad", "mad",
           "could be better", "confus*", "lame", "meh"),
    "es": ("malo", "mala", "lento", "lenta", "molesto", "molesta", "enojad*", "triste"),
    "cs": ("špatn*", "pomal*", "naštvan*", "smutn*"),
    "fa": ("بد", "ضعیف*", "ناراحت*", "خوب نیست", "خوب نبود"),
    "zh": ("不好", "慢", "生气", "不满意", "难用"),
    "hi": ("बुरा", "धीमा", "निराश", "नाराज", "अच्छा नहीं", "अच्छी नहीं"),
    "de": ("ärgerlich", "schlecht*", "ständig"),
    "ru": ("плохо",),
}

URGENT: Lexicon = {  # level 1: a customer asking for speed
    "en": ("urgent*", "asap", "emergency", "immediately", "right now", "right away",
           "critical", "as soon as possible", "still waiting"),
    "es": ("urgente*", "inmediat*", "ya mismo", "cuanto antes", "lo antes posible"),
    "cs": ("naléhav*", "urgentn*", "ihned", "okamžit*", "co nejdřív", "co nejdříve"),
    "fa": ("فوری*", "سریعا", "همین الان", "هر چه سریعتر"),
    "zh": ("紧急", "马上", "立刻", "尽快", "急"),
    "hi": ("तुरंत", "जल्दी", "अर्जेंट"),
}

CRITICAL: Lexicon = {  # level 2: legal, money clawback, churn, outage, security
    "en": ("lawyer*", "attorney", "legal action", "sue", "suing", "chargeback*",
           "production down", "prod down", "production is down", "prod is down",
           "down for all", "outage", "data loss", "security breach", "hacked", "fraud",
           "cancel my account", "cancel my subscription", "close my account",
           "delete my account", "report you"),
    "es": ("abogad*", "demanda*", "denunci*", "cancelar mi cuenta", "dar de baja",
           "contracargo", "fraude", "hackea*"),
    "cs": ("právník*", "soud*", "žalob*", "zrušit účet", "zrušte mi účet", "podvod*", "čoi"),
    "fa": ("وکیل*", "دادگاه*", "شکایت*", "کلاهبرداری*", "حسابم رو ببندید", "حذف حساب"),
    "zh": ("律师", "起诉", "报警", "诈骗", "注销", "宕机"),
    "hi": ("वकील", "कोर्ट", "धोखाधड़ी", "अकाउंट बंद कर", "पुलिस"),
}

NEGATORS: Lexicon = {  # flip the polarity of the next few words (word scripts only)
    "en": ("not", "no", "never", "don't", "doesn't", "didn't", "isn't", "wasn't", "aren't",
           "weren't", "can't", "cannot", "couldn't", "won't", "wouldn't", "hardly", "nor"),
    "es": ("no", "nunca", "tampoco", "ni", "sin"),
    "cs": ("ne", "nikdy", "není", "nebyl", "nebylo"),
    "de": ("nicht", "kein", "keine", "nie"),
    "fr": ("pas", "jamais"),
    "pt": ("não", "nunca"),
    "it": ("non", "mai"),
    "ru": ("не", "нет"),
}

CONTRAST: Lexicon = {  # what follows these outweighs what came before ("thanks, but…")
    "en": ("but", "however", "although", "though"),
    "es": ("pero", "sin embargo", "aunque"),
    "cs": ("ale", "však", "jenže", "akorát"),
    "fa": ("ولی", "اما"),
    "zh": ("但是", "可是", "不过", "但"),
    "hi": ("लेकिन", "मगर", "किंतु"),
    "de": ("aber",),
    "fr": ("mais",),
    "pt": ("mas",),
    "ru": ("но",),
    "ar": ("لكن",),
}

POSITIVE_EMOJI = "😍❤♥💕💖💗💙💚💜🥰😊😀😃😄😁🙂☺🤩🙏👍👏🙌🎉🥳✨💯💪👌😎🔥"
NEGATIVE_EMOJI = "😡😠🤬👎💔😤😞😢😭🙄💩😒😩😫😖😣☹🙁😕🤮"
PROMO_EMOJI = "💰🤑💸📈🚀"  # spam flavour only in bulk: one rocket is just enthusiasm
# fmt: on
