/* What a guarded secret is called: see subject.h. */
#include "filters/subject.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "filters/needles.h"

/* Words for secrets: a run of the name's words before one names the secret; never replaced. */
static const char secret_words[] =
    " password passwords passcode passcodes passphrase passphrases pin pins code codes "
    "number numbers key keys token tokens phrase word combination codeword codename "
    "secret secrets ";

/* Function words, and the generic words of application prompts: never a secret's name. */
static const char stop_words[] =
    " the and for are was were been being that this these those with from into onto than "
    "then its our your their his her you they them she him who whom whose what when "
    "where why how which use used uses using can may must should will would could shall "
    "never not don does did any anyone anybody all each every some one only also please "
    "just here there about above below over under after before per via has have had set "
    "codenamed named called reads equals currently today customers customer guests guest "
    "users user players player patients patient members member visitors visitor tenants "
    "tenant passengers passenger students student shoppers shopper clients client people "
    "assistant bot helper support chat reply replies answer answers share reveal "
    "disclose tell give mention circumstances internal confidential private current new "
    "remember note following hidden real actual true exact nobody everyone everybody "
    "someone somebody nothing something everything yes me i we us it be is am do so if "
    "or as by up out off now then ";

/* Generic words: kinds of secret ("API key", "admin password") and words every application says
 * (staff, account). A name's run needs one word that is not generic ("the carrier account"), and
 * the head is never one. */
static const char generic_words[] =
    " api access admin administrator master login account security secure public personal "
    "default root system service app application web online email e-mail phone staff "
    "employee employees team company office ";

/* Determiners: one starts a declaration's noun phrase ("a maximum bill credit of $85"), unless a
 * preposition comes before it ("the floor price on the 2024 Tacoma"). */
static const char determiners[] =
    " the a an our your its their this that these those his her my any every each some ";

/* Kinds of personal data: a prompt naming none holds no person's data. */
static const char personal_fields[] =
    " address addresses birthday birthdate birth born dob phone mobile cell email e-mail "
    "passport salary income ssn diagnosis diagnosed medical allergy allergies iban lives "
    "medication prescription condition age favorite favourite initials hometown ";

/* Kinds of personal data in the other languages the pack reads (de fr es pt it nl pl sv, ru, tr
 * id vi tl, ko bn): where a word starts, ASCII letters in either case ("Wohnadresse" and
 * "Privatadresse" are listed: German joins them). */
/* clang-format off */
static const char *const fields_word[] = {
    /* de */ "adresse", "wohnadresse", "privatadresse", "heimadresse", "anschrift", "wohnort",
    "geburtsdatum", "geburtstag", "geboren", "telefon", "handy", "privatnummer", "mobilnummer",
    "gehalt", "jahresgehalt", "monatsgehalt", "einkommen", "diagnose", "krankheit", "erkrankung",
    "krankenakte", "bankverbindung", "kontonummer", "kontostand", "reisepass", "ausweis",
    "wohnt ",
    /* born: fr es pt it ru tr ja ko */ "née ", "né ", "nacido", "nacida", "nació", "nasceu",
    "nascido", "nascida", "sinh ngày", "sinh năm", "nato ", "nata ", "родил", "doğdu", "生まれ", "태어",
    /* lives: it es pt vi tl de */ "abita ", "vive ", "mora ", "sống ", "nakatira", "wohnhaft",
    /* national ids: br es mx cl */ "cpf", "dni ", "nif ", "curp", "cédula",
    /* e-mail; personal data as such */ "e-mail", "email", "e-posta", "почт", "электронн",
    "dados pessoais", "datos personales", "données personnelles", "persönliche daten",
    "personenbezogene daten", "dati personali", "kişisel veri", "kişisel bilgi", "личные данные",
    "личную информацию", "личной информаци", "thông tin cá nhân",
    /* diagnosed: de fr es pt it */ "diagnostiziert", "diagnostiqué", "diagnosticad", "diagnosticat",
    /* fr */ "domicile", "téléphone", "portable", "naissance", "anniversaire", "salaire",
    "revenu", "diagnostic", "maladie", "coordonnées", "courriel", "passeport", "habite ",
    /* es */ "dirección", "domicilio", "teléfono", "móvil", "celular", "nacimiento", "cumpleaños",
    "salario", "sueldo", "ingresos", "diagnóstico", "enfermedad", "pasaporte", "cuenta bancaria",
    /* pt */ "endereço", "morada", "telefone", "telemóvel", "aniversário", "salário", "doença",
    "passaporte", "conta bancária",
    /* it */ "indirizzo", "telefono", "cellulare", "nascita", "compleanno", "stipendio",
    "reddito", "diagnosi", "malattia", "passaporto", "codice fiscale",
    /* nl */ "adres", "woonadres", "telefoon", "geboortedatum", "verjaardag", "geboren",
    "salaris", "inkomen", "ziekte", "rekeningnummer", "paspoort",
    /* pl sv */ "urodzenia", "urodzin", "wynagrodzeni", "pensja", "diagnoza", "choroba", "pesel",
    "paszport", "adress", "födelse", "personnummer", "lön ", "diagnos", "sjukdom",
    /* ru */ "адрес", "Адрес", "телефон", "Телефон", "мобильн", "рождени", "Дата рождения",
    "зарплат", "Зарплат", "оклад", "доход", "диагноз", "Диагноз", "болезн", "заболевани",
    "паспорт", "проживает", "живёт", "живет", "баланс", "счёт", "счета",
    /* tr */ "adres", "telefon", "doğum", "maaş", "teşhis", "tanısı", "hastalı",
    "hesap", "kimlik", "pasaport", "bakiye",
    /* id tl */ "alamat", "telepon", "ponsel", "lahir", "ulang tahun", "gaji", "penghasilan",
    "diagnosis", "penyakit", "rekening", "saldo", "paspor", "tirahan", "telepono", "kaarawan",
    "kapanganakan", "sweldo", "suweldo", "sahod",
    /* vi */ "địa chỉ", "điện thoại", "ngày sinh", "sinh nhật", "lương", "thu nhập", "chẩn đoán",
    "bệnh", "tài khoản", "số dư", "hộ chiếu",
    /* ko */ "주소", "전화", "휴대폰", "핸드폰", "생년월일", "생일", "급여", "연봉", "월급", "진단",
    "병명", "계좌", "잔액", "여권", "주민등록",
    /* bn */ "ঠিকানা", "ফোন", "মোবাইল", "জন্ম", "বেতন", "রোগ", "অ্যাকাউন্ট", "পাসপোর্ট",
    /* what a profile records about a person: a favourite anything, the current city, initials,
     * a birth year, the social security number, an e-mail; a balance, an account's number (de fr
     * es pt it nl pl sv, ru, tr id tl vi, ko bn) */
    "lieblings", "initialen", "geburtsjahr", "geburtsmonat", "sozialversicherung", "préféré",
    "ville actuelle", "initiales", "sécurité sociale", "favorit", "ciudad actual", "iniciales",
    "seguro social", "correo electrónico", "cidade atual", "iniciais", "preferit",
    "città attuale", "iniziali", "previdenza sociale", "lievelings", "favoriet", "huidige stad",
    "huidige woonplaats", "geboortejaar", "ulubion", "inicjał", "obecne miasto", "initialer",
    "nuvarande stad", "любим", "Любим", "инициал", "Инициал", "текущий город", "город проживания",
    "социального страхования", "favori", "en sevdiği", "şu anki şehir", "baş harf",
    "sosyal güvenlik", "kota saat ini", "inisial", "jaminan sosial", "paborito",
    "kasalukuyang lungsod", "inisyal", "yêu thích", "thành phố hiện tại", "viết tắt",
    "chữ cái đầu", "năm sinh", "an sinh xã hội", "좋아하는 색", "좋아하는 음식", "좋아하는 영화",
    "좋아하는 음악", "현재 도시", "이니셜", "출생 연도", "태어난 해", "사회보장", "প্রিয়",
    "বর্তমান শহর", "আদ্যক্ষর", "সামাজিক নিরাপত্তা", "solde", "numéro de compte", "número de cuenta",
    "número da conta", "numero di conto", NULL};

/* ... and in the languages that join words and particles (ar th zh ja): anywhere. */
static const char *const fields_inside[] = {
    /* ar */ "عنوان", "هاتف", "جوال", "موبايل", "ميلاد", "راتب", "تشخيص", "مرض", "رصيد", "جواز",
    "حساب",
    /* th */ "ที่อยู่", "เบอร์", "โทรศัพท์", "วันเกิด", "เงินเดือน", "วินิจฉัย", "โรค", "บัญชี",
    "ยอดคงเหลือ", "หนังสือเดินทาง",
    /* zh ja */ "地址", "住址", "住所", "电话", "電話", "手机", "手機", "携帯", "生日", "出生",
    "生年月日", "誕生日", "工资", "工資", "薪水", "薪资", "薪資", "給与", "給料", "年収", "诊断",
    "診斷", "診断", "病情", "病名", "账户", "帳戶", "余额", "餘額", "口座", "残高", "护照", "護照",
    "身份证", "身分證", "メール", "邮箱", "电子邮件", "電子郵件", "이메일", "البريد", "個人情報", "个人信息",
    "個人資料", "개인 정보", "개인정보", "البيانات الشخصية",
    /* a favourite anything, the current city, initials, a birth year, social security */
    "المفضل", "المدينة الحالية", "الأحرف الأولى", "الضمان الاجتماعي", "ที่ชื่นชอบ", "สีโปรด",
    "สีที่ชอบ", "อาหารโปรด", "เมืองปัจจุบัน", "ชื่อย่อ", "อักษรย่อ", "ปีเกิด", "ประกันสังคม", "最喜欢",
    "最喜歡", "喜欢的颜色", "喜歡的顏色", "当前城市", "所在城市", "居住城市", "现居", "現在の都市",
    "住んでいる都市", "首字母", "イニシャル", "出生年份", "生まれた年", "社会保障", "社會安全",
    "好きな色", "好きな食べ物", "好きな映画", "好きな音楽", "パスポート", NULL};
/* clang-format on */

/* Capitalised words of other languages that are no name: places, organisations (titles are
 * titles_ml). */
static const char not_names_ml[] =
    " calle rue via avenida avenue rua straße strasse platz piazza plaza jalan sokak caddesi "
    "allee weg gasse ring laan straat close row terrace crescent gardens mews clínica clinica "
    "klinik clinique hôpital ospedale "
    "krankenhaus hospital hotel banco banque bank apotheke farmacia pharmacie gmbh ag kg sa srl "
    "spa sas sarl bv nv ltda tbk corp company co tech group gruppe groupe grupo trading "
    "logistics logistik desk support team department service services center reception line "
    "hotline helpdesk international holding holdings partners solutions systems ";

/* An assistant's words before the name of the person it works for, in Russian. */
static const char assistant_words[] = " ассистент ассистентка помощник помощница секретарь ";

/* A title of another language before a name ("Frau Dr. Vogelsang", "doña Carmen"). */
static const char titles_ml[] =
    " frau herr herrn hr mme mlle madame monsieur sr sra srta señor señora señorita don doña "
    "dra dott dottor dottore dottoressa sig signor signora avv avvocato dhr mevr mevrouw meneer "
    "pan pani bay bayan pak bu ibu bapak ông bà anh chị doktor professeur profesor ";

/* A person's role before a comma and the name ("the user, Maria Lopez"). */
static const char person_roles[] =
    " user client patient customer employee member tenant guest resident student child son "
    "daughter wife husband partner owner ";

/* Last words of names of places and organisations, and capitalised words that are no name. */
static const char not_names[] =
    " street st road rd avenue ave lane drive way boulevard square court place hotel inn bank "
    "clinic hospital school university college museum store shop restaurant cafe pharmacy "
    "airlines airline inc ltd llc corp company group center centre office city county "
    "january february march april may june july august september october november december "
    "monday tuesday wednesday thursday friday saturday sunday the you your her his their "
    "our never do don not always only please note name user assistant keep tell ask call "
    "remember give send share show use help greet thank remind contact write protect treat "
    "address ";

/* Prepositions: the first one ends a declaration's name. */
static const char prepositions[] =
    " for on of at in to from with above below over under about behind ";

/* Connectors: the word right before a declared value. */
static const char connectors[] =
    " is are was were be of to above below over under exceeds codenamed named called "
    "reads equals ";

/* English function words: one makes a clause English. */
static const char english[] =
    " the is are was our your for of a an to this its their with use uses ";

/* Hindi (filters/subject.h), as read_word() copies words: without nukta, chandrabindu as
 * anusvara. Words for secrets; function words (a declaration's noun phrase starts after one) and
 * the words of application prompts for people; the joiners inside a noun phrase (genitives,
 * "वाला"); the copulas after a declared value; kinds of personal data; generic words; the
 * demonstratives and "your" after which the head alone names the secret; "my". */
static const char secret_hi[] = " पासवर्ड पासकोड कोड पिन कुंजी चाबी नंबर संख्या टोकन कोडनेम "
                                "कोडवर्ड फ्रेज वाक्यांश शब्द ";
static const char stop_hi[] =
    " है हैं था थी थे हो और या यह वह ये वो इसे उसे इस उस इसका उसका आप आपका आपकी आपके आपको "
    "तुम तुम्हारा तुम्हारी तुम्हारे तुम्हें मैं मुझे हम हमारा हमारी हमारे को से में पर ने भी ही "
    "तो न नहीं मत कभी किसी कोई कुछ सभी सब जो जिसे जिसका जिसकी क्या कि एक लिए साथ तक आने जाने होने गुप्त "
    "गोपनीय आंतरिक सीक्रेट छिपा छुपा असली वर्तमान ग्राहक ग्राहकों उपयोगकर्ता उपयोगकर्ताओं "
    "यात्री यात्रियों मेहमान मेहमानों खिलाडी खिलाडियों छात्र छात्रों मरीज मरीजों सदस्य सदस्यों "
    "सहायक बॉट ";
static const char joiners_hi[] = " का की के वाला वाली वाले ";
static const char copula_hi[] = " है हैं था थी थे ";
static const char personal_hi[] =
    " पता जन्मतिथि जन्म फोन मोबाइल ईमेल पासपोर्ट वेतन सैलरी निदान बीमारी उम्र आधार पसंदीदा "
    "आद्याक्षर इनिशियल्स ";
static const char generic_hi[] = " एडमिन एक्सेस मास्टर लॉगिन खाता अकाउंट सुरक्षा सिक्योरिटी "
                                 "सिस्टम स्टाफ कर्मचारी कर्मचारियों टीम कंपनी ऑफिस सर्वर ऐप ";
static const char definite_hi[] =
    " वह वो यह ये उस इस उसी इसी आपका आपकी आपके तुम्हारा तुम्हारी तुम्हारे अपना अपनी अपने ";
static const char mine_hi[] = " मेरा मेरी मेरे ";
/* The name labels of the scripts without capitals, the copulas before or after a name, and words
 * that are no name after a label ("नाम गोपनीय है"): Hindi, Bengali, Arabic. */
static const char name_labels_uncased[] = " नाम নাম اسم الاسم اسمه اسمها ";
static const char copulas_uncased[] = " है हैं था थी হল হলো হচ্ছে هو هي ";
static const char not_names_uncased[] =
    " है हैं था थी और का की के को से में पर गोपनीय निजी व्यक्तिगत संवेदनशील उपयोगकर्ता ग्राहक "
    "এবং ও এর হয় ছিল গোপনীয় ব্যবহারকারী ব্যবহারকারীর و في من على مع عن سري سرية المستخدم ";
/* A person's role before the name in a Hindi prompt ("कर्मचारी Sarah Lindqvist"). */
static const char roles_hi[] =
    " कर्मचारी मरीज रोगी किरायेदार ग्राहक उपयोगकर्ता सदस्य छात्र यूजर मेहमान अतिथि ";

static int
is_alpha(unsigned char c)
{
    return (c | 32) >= 'a' && (c | 32) <= 'z';
}

static int
is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* A word: its span, its copy with ASCII letters lower-cased and its length (0 when it has a
 * digit or is too long); plain when it is ASCII letters only (with at most hyphens joining a part
 * of one or two letters): only those name a secret, while a person's name may have any letters
 * ("José"). */
struct word {
    size_t from, to;
    char low[GW_SUBJECT_WORD_MAX + 1];
    size_t n;
    int plain;
    int deva; /* Devanagari letters only */
};

/* Definite words (without a search: this runs for every word of a message): the head alone names
 * the secret one or two words after one ("the invite", "the mod invite", "your biggest credit"),
 * not in "convert to link to access". */
static int
is_definite(const struct word *w)
{
    return (w->n == 3 && memcmp(w->low, "the", 3) == 0) ||
           (w->n == 4 && (memcmp(w->low, "your", 4) == 0 || memcmp(w->low, "that", 4) == 0 ||
                          memcmp(w->low, "this", 4) == 0));
}

/* A title before a person's name ("dr", "mrs", "professor" ...), compared without a search: this
 * runs for every word of a message. */
static int
is_title(const struct word *w)
{
    const char *l = w->low;
    switch (w->n) {
    case 2:
        return (l[0] == 'd' && l[1] == 'r') ||
               (l[0] == 'm' && (l[1] == 'r' || l[1] == 's' || l[1] == 'x'));
    case 3:
        return memcmp(l, "mrs", 3) == 0 || memcmp(l, "sir", 3) == 0;
    case 4:
        return memcmp(l, "miss", 4) == 0 || memcmp(l, "prof", 4) == 0;
    case 5:
        return memcmp(l, "madam", 5) == 0;
    case 9:
        return memcmp(l, "professor", 9) == 0;
    default:
        return 0;
    }
}

/* A curly quote or apostrophe (‘ ’ “ ” ) at i: its length (3), else 0. Punctuation, although its
 * bytes are not ASCII: "Maria’s" is the word "Maria". */
static size_t
curly_at(const char *t, size_t len, size_t i)
{
    return i + 2 < len && (unsigned char)t[i] == 0xE2 && (unsigned char)t[i + 1] == 0x80 &&
                   (unsigned char)t[i + 2] >= 0x98 && (unsigned char)t[i + 2] <= 0x9D
               ? 3
               : 0;
}

/* A danda or double danda (। ॥: Devanagari's full stops) at i: its length (3), else 0. */
static size_t
danda_at(const char *t, size_t len, size_t i)
{
    return i + 2 < len && (unsigned char)t[i] == 0xE0 && (unsigned char)t[i + 1] == 0xA5 &&
                   ((unsigned char)t[i + 2] == 0xA4 || (unsigned char)t[i + 2] == 0xA5)
               ? 3
               : 0;
}

/* Punctuation written without a space after a word, at i: its length, else 0 -- curly quotes,
 * the danda, the Arabic comma, semicolon and question mark, CJK and full-width punctuation. */
static size_t
mark_at(const char *t, size_t len, size_t i)
{
    size_t q;
    if ((q = curly_at(t, len, i)) || (q = danda_at(t, len, i)))
        return q;
    unsigned char a = (unsigned char)t[i], b = i + 1 < len ? (unsigned char)t[i + 1] : 0;
    if (a == 0xD8 && (b == 0x8C || b == 0x9B || b == 0x9F))
        return 2;
    return i + 2 < len && ((a == 0xE3 && b == 0x80) || (a == 0xEF && (b == 0xBC || b == 0xBD))) ? 3
                                                                                                : 0;
}

/* Word w begins with the Arabic "and" (و), written joined to the word after it. */
static int
arabic_and(const struct word *w)
{
    return w->n >= 2 && memcmp(w->low, "و", 2) == 0;
}

/* A letter of a script without capitals whose names a prompt's record gives after its label
 * (Devanagari, Bengali, Arabic) at i. */
static int
uncased_at(const char *t, size_t len, size_t i)
{
    unsigned char a = (unsigned char)t[i], b = i + 1 < len ? (unsigned char)t[i + 1] : 0;
    return (a == 0xE0 && b >= 0xA4 && b <= 0xA7) || (a >= 0xD8 && a <= 0xDB);
}

/* A Devanagari letter or sign (U+0900..U+097F) at i. */
static int
deva_at(const char *t, size_t len, size_t i)
{
    return i + 2 < len && (unsigned char)t[i] == 0xE0 &&
           ((unsigned char)t[i + 1] == 0xA4 || (unsigned char)t[i + 1] == 0xA5) &&
           (unsigned char)t[i + 2] >= 0x80 && (unsigned char)t[i + 2] <= 0xBF;
}

/* Copies the Devanagari word [i, j) of t into out (at least j - i bytes): without nukta
 * (U+093C), the precomposed nukta letters (U+0958..U+095F) as their base letters, chandrabindu
 * (U+0901) as anusvara (U+0902). Returns the copy's length. */
static size_t
deva_fold(const char *t, size_t i, size_t j, char *out)
{
    /* क़ ख़ ग़ ज़ ड़ ढ़ फ़ य़ -> क ख ग ज ड ढ फ य (third bytes in the U+0900 block) */
    static const unsigned char base[8] = {0x95, 0x96, 0x97, 0x9C, 0xA1, 0xA2, 0xAB, 0xAF};
    size_t n = 0;
    for (size_t k = i; k + 3 <= j; k += 3) {
        unsigned char b1 = (unsigned char)t[k + 1], b2 = (unsigned char)t[k + 2];
        if (b1 == 0xA4 && b2 == 0xBC)
            continue;
        if (b1 == 0xA5 && b2 >= 0x98 && b2 <= 0x9F) {
            b1 = 0xA4;
            b2 = base[b2 - 0x98];
        } else if (b1 == 0xA4 && b2 == 0x81) {
            b2 = 0x82;
        }
        out[n++] = (char)0xE0;
        out[n++] = (char)b1;
        out[n++] = (char)b2;
    }
    return n;
}

/* The script of the character whose first byte is t[k]: 1 an ASCII letter, 2 the scripts written
 * without spaces whose letters are three bytes led by 0xE3..0xED (kana, CJK ideographs, Hangul)
 * or 0xEF (full-width forms), 0 any other (digits too: "67세", "1979年" stay one word). */
static int
script_of(const char *t, size_t k)
{
    unsigned char c = (unsigned char)t[k];
    if (c < 0x80)
        return is_alpha(c);
    return (c >= 0xE3 && c <= 0xED) || c == 0xEF ? 2 : 0;
}

/* A word ends where ASCII letters meet CJK or Hangul with no space between (j: a character's
 * first byte after i): "患者Maria Lopesは" holds the words "Maria" and "Lopes", as its reader
 * sees them. */
static int
script_change(const char *t, size_t i, size_t j)
{
    if (j == i || ((unsigned char)t[j] & 0xC0) == 0x80)
        return 0;
    size_t p = j - 1;
    while (p > i && ((unsigned char)t[p] & 0xC0) == 0x80)
        p--;
    int a = script_of(t, p), b = script_of(t, j);
    return a && b && a != b;
}

/* The word that starts at i (t[i] is a word byte) into *w; returns its end. */
static size_t
read_word(const char *t, size_t len, size_t i, struct word *w)
{
    size_t j = i, part = i;
    int digit = 0;
    w->from = i;
    w->plain = 1;
    for (;;) {
        while (j < len && gw_word_byte((unsigned char)t[j]) &&
               !((unsigned char)t[j] >= 0xD8 && mark_at(t, len, j)) && !script_change(t, i, j)) {
            if (!is_alpha((unsigned char)t[j]))
                w->plain = 0;
            digit |= is_digit((unsigned char)t[j]);
            j++;
        }
        /* "wi-fi", "e-mail": a hyphen joins when a part has one or two bytes */
        if (j + 1 < len && t[j] == '-' && is_alpha((unsigned char)t[j + 1])) {
            size_t k = j + 1;
            while (k < len && gw_word_byte((unsigned char)t[k]))
                k++;
            if (j - part <= 2 || k - (j + 1) <= 2) {
                part = j + 1;
                j++;
                continue;
            }
        }
        break;
    }
    w->to = j;
    w->n = j - i;
    w->deva = 0;
    if (w->n > GW_SUBJECT_WORD_MAX || digit) {
        w->plain = 0;
        w->n = 0;
    }
    if (w->n && !w->plain) {
        /* Devanagari only: three-byte letters from its start to its end */
        size_t k = i;
        while (k + 3 <= j && deva_at(t, len, k))
            k += 3;
        if (k == j) {
            w->deva = 1;
            w->n = deva_fold(t, i, j, w->low);
            w->low[w->n] = '\0';
            return j;
        }
    }
    for (size_t k = 0; k < w->n; k++) {
        unsigned char c = (unsigned char)t[i + k];
        w->low[k] = (char)(is_alpha(c) ? (c | 32) : c);
    }
    w->low[w->n] = '\0';
    return j;
}

/* w (a word of at most GW_SUBJECT_WORD_MAX bytes) is in list (" word word ... ") */
static int
in_list(const char *list, const char *w)
{
    char pat[GW_SUBJECT_WORD_MAX + 3];
    size_t n = strlen(w);
    if (!n || n > GW_SUBJECT_WORD_MAX)
        return 0;
    pat[0] = ' ';
    memcpy(pat + 1, w, n);
    pat[n + 1] = ' ';
    pat[n + 2] = '\0';
    return strstr(list, pat) != NULL;
}

/* A sentence ends at a line break, or at '.', '!', '?' or ';' before white space or the end. */
static int
boundary(const char *t, size_t len, size_t i)
{
    if (t[i] == '\n')
        return 1;
    /* any byte of a danda: a scan forwards stops at its first, one backwards at its last */
    for (size_t k = i >= 2 ? i - 2 : 0; k <= i; k++)
        if (danda_at(t, len, k))
            return 1;
    if (t[i] != '.' && t[i] != '!' && t[i] != '?' && t[i] != ';')
        return 0;
    return i + 1 == len || t[i + 1] == ' ' || t[i + 1] == '\n' || t[i + 1] == '\r' ||
           t[i + 1] == '\t';
}

/* The length of the quote that opens at p (ASCII " ' `, or “ ‘ «), 0 when none; before b. */
static size_t
quote_open(const char *t, size_t p, size_t b)
{
    unsigned char c = (unsigned char)t[p];
    if (c == '"' || c == '\'' || c == '`')
        return 1;
    if (p + 2 < b && c == 0xE2 && (unsigned char)t[p + 1] == 0x80 &&
        ((unsigned char)t[p + 2] == 0x9C || (unsigned char)t[p + 2] == 0x98))
        return 3;
    if (p + 1 < b && c == 0xC2 && (unsigned char)t[p + 1] == 0xAB)
        return 2;
    return 0;
}

/* A value starts at p (a byte after white space, ':' or '=' or the sentence's start): a quote, or
 * a token up to white space with a digit, '_', '$', '#' or a capital after a lower-case letter.
 * Ends before b. */
static int
value_at(const char *t, size_t p, size_t b)
{
    if (quote_open(t, p, b))
        return 1;
    int lower = 0;
    for (size_t q = p; q < b && t[q] != ' ' && t[q] != '\t'; q++) {
        unsigned char d = (unsigned char)t[q];
        if (is_digit(d) || d == '_' || d == '$' || d == '#')
            return 1;
        if (d >= 'A' && d <= 'Z' && lower)
            return 1;
        lower |= d >= 'a' && d <= 'z';
    }
    return 0;
}

/* The filter bits of a word: two of 64, from a hash of it without a final 's' (so that a plural
 * and its singular share them, as find() lets them match). */
static uint64_t
bloom_bits(const char *w, size_t n)
{
    if (n > 1 && w[n - 1] == 's')
        n--;
    /* its first two letters, last letter and length: enough to tell most words apart, and no
     * loop over the word (this runs for every word of a message) */
    uint64_t h = ((uint64_t)(unsigned char)w[0] << 24 | (uint64_t)(unsigned char)w[n > 1] << 16 |
                  (uint64_t)(unsigned char)w[n - 1] << 8 | n) *
                 0x9E3779B97F4A7C15ull;
    return (1ull << (h >> 58)) | (1ull << ((h >> 52) & 63));
}

static size_t
find(const struct gw_subject *s, const char *w, size_t n)
{
    /* most words of a message are none of the few kept: one look at the filter */
    uint64_t b = bloom_bits(w, n);
    if ((s->bloom & b) != b)
        return (size_t)-1;
    for (size_t k = 0; k < s->n; k++) {
        size_t m = s->len[k];
        /* a plural 's' either side */
        if ((m == n || (m + 1 == n && w[n - 1] == 's') || (n + 1 == m && s->w[k][m - 1] == 's')) &&
            memcmp(s->w[k], w, m < n ? m : n) == 0)
            return k;
    }
    return (size_t)-1;
}

static void
keep(struct gw_subject *s, const char *w, size_t n, uint8_t flags)
{
    for (size_t k = 0; k < s->n; k++)
        if (s->len[k] == n && memcmp(s->w[k], w, n) == 0) {
            s->flags[k] |= flags;
            return;
        }
    if (s->n == GW_SUBJECT_MAX)
        return;
    memcpy(s->w[s->n], w, n);
    s->w[s->n][n] = '\0';
    s->bloom |= bloom_bits(w, n);
    s->len[s->n] = (uint8_t)n;
    s->flags[s->n] = flags;
    s->n++;
}

#define CLAUSE_WORDS 32

static int next_word(const char *t, size_t len, size_t *i, struct word *w);

/* A word for secrets, English or Hindi. */
static int
secret_word(const struct word *w)
{
    return w->n && (w->deva ? in_list(secret_hi, w->low) : in_list(secret_words, w->low));
}

/* Where the value that starts at p ends: after its closing quote, or at white space. */
static size_t
value_end(const char *t, size_t p, size_t b)
{
    size_t open = quote_open(t, p, b), q = p + 1;
    if (open) {
        /* a quote: to the next quote of any kind (ASCII, or the curly and guillemet closers) */
        for (q = p + open; q < b; q++) {
            unsigned char d = (unsigned char)t[q];
            if (d == '"' || d == '\'' || d == '`')
                return q + 1;
            if (q + 2 < b && d == 0xE2 && (unsigned char)t[q + 1] == 0x80 &&
                ((unsigned char)t[q + 2] == 0x9D || (unsigned char)t[q + 2] == 0x99))
                return q + 3;
            if (q + 1 < b && d == 0xC2 && (unsigned char)t[q + 1] == 0xBB)
                return q + 2;
        }
        return b;
    }
    while (q < b && t[q] != ' ' && t[q] != '\t')
        q++;
    return q;
}

/* The Hindi declaration in the sentence [a, b) of t (subject.h): "<name> <value> है" or
 * "<name>: <value>". 1 when one was found (its words then in s). */
static int
declaration_hi(struct gw_subject *s, const char *t, size_t a, size_t b)
{
    struct word w[CLAUSE_WORDS];
    size_t nw = 0, i = a, q;
    while (i < b) {
        int after =
            i == a || t[i - 1] == ' ' || t[i - 1] == '\t' || t[i - 1] == ':' || t[i - 1] == '=';
        if (after && nw > 0 && !deva_at(t, b, i) && value_at(t, i, b)) {
            size_t p = i;
            while (p > a && (t[p - 1] == ' ' || t[p - 1] == '\t'))
                p--;
            size_t j = value_end(t, i, b);
            struct word cop;
            if ((p > a && (t[p - 1] == ':' || t[p - 1] == '=')) ||
                (next_word(t, b, &j, &cop) && cop.deva && in_list(copula_hi, cop.low)))
                break;
        }
        if ((q = curly_at(t, b, i)) || (q = danda_at(t, b, i))) {
            i += q;
            continue;
        }
        if (gw_word_byte((unsigned char)t[i])) {
            if (nw == CLAUSE_WORDS)
                return 0;
            i = read_word(t, b, i, &w[nw]);
            nw++;
            continue;
        }
        i++;
    }
    if (i >= b || !nw)
        return 0;
    /* back from the value to a function word; the nearest joiner ends the context */
    size_t start = nw, joiner = (size_t)-1;
    while (start > 0 && nw - start < 2 * GW_SUBJECT_PER_DECL) {
        const struct word *x = &w[start - 1];
        if (x->deva && in_list(joiners_hi, x->low)) {
            if (joiner == (size_t)-1)
                joiner = start - 1;
        } else if (x->n && (x->deva ? in_list(stop_hi, x->low)
                                    : in_list(stop_words, x->low) || in_list(english, x->low))) {
            break;
        }
        start--;
    }
    for (size_t k = start; k < nw; k++)
        if (w[k].deva && in_list(personal_hi, w[k].low))
            return 0;
    /* a name that ends in a word for secrets has no head ("अलार्म कोड") */
    int headless = secret_word(&w[nw - 1]);
    size_t taken = 0, head = headless ? (size_t)-2 : (size_t)-1;
    size_t idx[GW_SUBJECT_PER_DECL];
    for (size_t k = nw; k-- > start && taken < GW_SUBJECT_PER_DECL;) {
        const struct word *x = &w[k];
        if (!x->n || (x->deva ? x->n < 6 : x->n < 3) || secret_word(x) ||
            (x->deva && in_list(joiners_hi, x->low)) || (!x->deva && !x->plain))
            continue;
        int generic = x->deva ? in_list(generic_hi, x->low) : in_list(generic_words, x->low);
        int name = joiner == (size_t)-1 || k > joiner;
        if (name && head == (size_t)-1 && !generic)
            head = k;
        idx[taken++] = k;
    }
    for (size_t m = taken; m-- > 0;) {
        size_t k = idx[m];
        int name = joiner == (size_t)-1 || k > joiner;
        int generic = w[k].deva ? in_list(generic_hi, w[k].low) : in_list(generic_words, w[k].low);
        keep(s, w[k].low, w[k].n,
             (uint8_t)((name ? GW_SUBJECT_NAME : 0) | (k == head ? GW_SUBJECT_HEAD : 0) |
                       (generic ? GW_SUBJECT_GENERIC : 0)));
    }
    return taken > 0;
}

/* The declaration in the sentence [a, b) of t: 1 when one was found (its words then in s). */
static int
declaration(struct gw_subject *s, const char *t, size_t a, size_t b)
{
    for (size_t k = a; k < b; k++)
        if (deva_at(t, b, k))
            return declaration_hi(s, t, a, b);
    struct word w[CLAUSE_WORDS];
    size_t nw = 0, i = a;
    int colon = 0;
    while (i < b) {
        unsigned char c = (unsigned char)t[i];
        int after =
            i == a || t[i - 1] == ' ' || t[i - 1] == '\t' || t[i - 1] == ':' || t[i - 1] == '=';
        if (after && value_at(t, i, b) && nw > 0) {
            /* the connector: ':' or '=' (white space between), a connector word or a word for
             * secrets right before */
            size_t q = i;
            while (q > a && (t[q - 1] == ' ' || t[q - 1] == '\t'))
                q--;
            colon = q > a && (t[q - 1] == ':' || t[q - 1] == '=');
            const struct word *last = &w[nw - 1];
            if (colon || (last->to == q && last->n &&
                          (in_list(connectors, last->low) || in_list(secret_words, last->low))))
                break;
        }
        if (curly_at(t, b, i)) {
            i += 3;
            continue;
        }
        if (c >= 0x80)
            return 0; /* not English */
        if (gw_word_byte(c)) {
            if (nw == CLAUSE_WORDS)
                return 0;
            i = read_word(t, b, i, &w[nw]);
            if (w[nw].n && !w[nw].plain)
                return 0; /* letters outside ASCII: not English */
            nw++;
            continue;
        }
        i++;
    }
    if (i >= b)
        return 0;
    int en = colon;
    for (size_t k = 0; k < nw; k++)
        en |= w[k].n && in_list(english, w[k].low);
    if (!en)
        return 0;
    /* the noun phrase: back from the value to its determiner (past "on the", "for the") */
    size_t start = 0;
    for (size_t k = nw; k-- > 0;) {
        if (!w[k].n || !in_list(determiners, w[k].low))
            continue;
        if (k > 0 && w[k - 1].n && in_list(prepositions, w[k - 1].low)) {
            k--;
            continue;
        }
        start = k + 1;
        break;
    }
    /* its first preposition ends the name; the connector right before the value is none */
    size_t first_prep = nw;
    for (size_t k = start; k + 1 < nw; k++)
        if (w[k].n && in_list(prepositions, w[k].low)) {
            first_prep = k;
            break;
        }
    /* a name that ends in a word for secrets ("the branch vault override PIN") has no head: a
     * modifier alone names what the secret opens ("the vault", "the link"), not the secret */
    int headless = 0;
    for (size_t k = first_prep < nw ? first_prep : nw; k-- > start;)
        if (w[k].n && !in_list(connectors, w[k].low) && !in_list(stop_words, w[k].low)) {
            headless = in_list(secret_words, w[k].low);
            break;
        }
    /* personal data ("Her home address is 12 Elm Street"): its person is the name to watch for
     * (gw_subject_persons), not the kind of data */
    for (size_t k = start; k < nw; k++)
        if (w[k].n && in_list(personal_fields, w[k].low))
            return 0;
    size_t taken = 0, head = headless ? (size_t)-2 : (size_t)-1;
    size_t idx[GW_SUBJECT_PER_DECL];
    for (size_t k = nw; k-- > start && taken < GW_SUBJECT_PER_DECL;) {
        const struct word *x = &w[k];
        if (!x->n || (x->n < 3 && !memchr(x->low, '-', x->n)) || in_list(stop_words, x->low) ||
            in_list(secret_words, x->low) || in_list(prepositions, x->low) ||
            in_list(connectors, x->low))
            continue;
        if (k < first_prep && head == (size_t)-1 && !in_list(generic_words, x->low))
            head = k;
        idx[taken++] = k;
    }
    for (size_t m = taken; m-- > 0;) {
        size_t k = idx[m];
        keep(s, w[k].low, w[k].n,
             (uint8_t)((k < first_prep ? GW_SUBJECT_NAME : 0) | (k == head ? GW_SUBJECT_HEAD : 0) |
                       (in_list(generic_words, w[k].low) ? GW_SUBJECT_GENERIC : 0)));
    }
    return taken > 0;
}

/* Verbs of a prohibition's telling, the words between such a verb and its object's determiner,
 * and the generic nouns that are no name alone ("the launch date": "date"). */
static const char telling_verbs[] =
    " reveal disclose share divulge mention tell give leak release confirm discuss announce "
    "provide say repeat hint ";
static const char telling_between[] =
    " out away anyone anybody customers customer users user guests guest visitors clients "
    "buyers public them ";
static const char generic_heads[] =
    " date price number name amount figure value details detail information info data time "
    "day address rate list plan identity dates prices numbers names amounts figures values ";

/* The object of a prohibition in the English sentence [a, b) of t: "Do not reveal the launch
 * date to anyone" names the secret "launch date", whatever the sentence before declares. Its
 * words (one to three after "the", "our", "its" ... up to a preposition or punctuation) are
 * kept as a name; the last is the head unless generic ("date", "price": "the date" alone is not
 * the secret, "the launch date" is). */
static void
prohibited_object(struct gw_subject *s, const char *t, size_t a, size_t b)
{
    struct word w[CLAUSE_WORDS];
    size_t nw = 0, i = a;
    while (nw < CLAUSE_WORDS && i < b && next_word(t, b, &i, &w[nw]))
        nw++;
    for (size_t k = 0; k + 2 < nw; k++) {
        if (!w[k].n || !in_list(telling_verbs, w[k].low))
            continue;
        size_t d = k + 1;
        while (d < nw && d <= k + 2 && w[d].n && in_list(telling_between, w[d].low))
            d++;
        /* "the launch date", "our floor price"; not "a", and not "this limit", which refers
         * back to what the sentence before declares */
        if (d >= nw || !w[d].n || !in_list(determiners, w[d].low) ||
            in_list(" a an this that these those ", w[d].low))
            continue;
        size_t e = d + 1, end = d + 1;
        for (; e < nw && e <= d + 3; e++) {
            const struct word *x = &w[e];
            if (!x->n || !x->plain || x->n < 3 || in_list(prepositions, x->low) ||
                in_list(stop_words, x->low) || in_list(connectors, x->low) ||
                in_list(secret_words, x->low))
                break;
            end = e + 1;
            /* punctuation ends the noun phrase */
            if (e + 1 < nw && w[e + 1].from != x->to + 1)
                break;
        }
        if (end == d + 1)
            continue;
        for (size_t q = d + 1; q < end; q++) {
            int generic = in_list(generic_heads, w[q].low) || in_list(generic_words, w[q].low);
            uint8_t f = GW_SUBJECT_NAME | (generic ? GW_SUBJECT_GENERIC : 0);
            if (q + 1 == end && !generic)
                f |= GW_SUBJECT_HEAD;
            keep(s, w[q].low, w[q].n, f);
        }
        return;
    }
}

void
gw_subject_add(struct gw_subject *s, const char *t, size_t len, size_t at)
{
    if (!t || at >= len)
        return;
    size_t a = at, b = at;
    while (a > 0 && !boundary(t, len, a - 1))
        a--;
    while (b < len && !boundary(t, len, b))
        b++;
    if (declaration(s, t, a, b) || a == 0)
        return;
    prohibited_object(s, t, a, b);
    /* the sentence before: "... is 4471. Never share it." (before all of its full stop: a
     * danda is three bytes) */
    size_t pb = a - 1;
    while (pb > 0 && boundary(t, len, pb - 1))
        pb--;
    size_t pa = pb;
    while (pa > 0 && !boundary(t, len, pa - 1))
        pa--;
    declaration(s, t, pa, pb);
}

/* The next word at or after i into *w (1), or none (0); *i moves past it. */
static int
next_word(const char *t, size_t len, size_t *i, struct word *w)
{
    for (size_t q; *i < len; (*i)++) {
        if ((unsigned char)t[*i] >= 0xD8 && (q = mark_at(t, len, *i)))
            *i += q - 1;
        else if (gw_word_byte((unsigned char)t[*i]))
            break;
    }
    if (*i >= len)
        return 0;
    *i = read_word(t, len, *i, w);
    return 1;
}

/* Capitalised: an ASCII capital, then lower-case letters (a name's shape). */
static int
capital_at(const char *t, size_t len, size_t i)
{
    unsigned char c = (unsigned char)t[i];
    if (c >= 'A' && c <= 'Z')
        return 1;
    /* Cyrillic А..Я and Ё */
    if (c == 0xD0 && i + 1 < len &&
        (((unsigned char)t[i + 1] >= 0x90 && (unsigned char)t[i + 1] <= 0xAF) ||
         (unsigned char)t[i + 1] == 0x81))
        return 1;
    /* À..Þ but × */
    return c == 0xC3 && i + 1 < len && (unsigned char)t[i + 1] >= 0x80 &&
           (unsigned char)t[i + 1] <= 0x9E && (unsigned char)t[i + 1] != 0x97;
}

static int
capitalised(const char *t, size_t len, const struct word *w)
{
    if (w->n < 2 || !capital_at(t, len, w->from))
        return 0;
    for (size_t k = (unsigned char)t[w->from] >= 0x80 ? 2 : 1; k < w->n; k++) {
        unsigned char c = (unsigned char)t[w->from + k];
        if (!(c >= 'a' && c <= 'z') && c < 0x80)
            return 0;
    }
    return 1;
}

/* t[i..end) starts with f, ASCII letters compared in either case. */
static int
starts_with(const char *t, size_t i, size_t end, const char *f)
{
    for (; *f; f++, i++) {
        if (i >= end)
            return 0;
        unsigned char a = (unsigned char)t[i], b = (unsigned char)*f;
        if (a != b && !(is_alpha(a) && (a | 32) == b))
            return 0;
    }
    return 1;
}

/* A kind of personal data of another language is named in [from, to) of t (fields_word where a
 * word starts, fields_inside anywhere). */
static int
field_ml(const char *t, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        unsigned char c = (unsigned char)t[i];
        if ((c & 0xC0) == 0x80 || (c < 0x80 && !is_alpha(c)))
            continue; /* the first byte of a letter only */
        if (i == from || !gw_word_byte((unsigned char)t[i - 1]))
            for (const char *const *f = fields_word; *f; f++)
                if (starts_with(t, i, to, *f))
                    return 1;
        if (c >= 0xD8) /* Arabic, Thai, CJK */
            for (const char *const *f = fields_inside; *f; f++)
                if ((unsigned char)**f == c && starts_with(t, i, to, *f))
                    return 1;
    }
    return 0;
}

/* Word w is a kind of personal data of the English or the Hindi list. */
static int
field_word(const struct word *w)
{
    return w->n && in_list(w->deva ? personal_hi : personal_fields, w->low);
}

/* A kind of personal data is named in words [lo, hi) of w (hi > lo), in any language. */
static int
field_near(const char *t, const struct word *w, size_t lo, size_t hi)
{
    for (size_t k = lo; k < hi; k++)
        if (field_word(&w[k]))
            return 1;
    return field_ml(t, w[lo].from, w[hi - 1].to);
}

#define PERSON_WORDS 4096 /* words of a system text looked at for names */

/* Words [a, b) of w (capitalised, one space apart) name a person whose personal data the text
 * holds, in whatever language it is written: two or three words of three letters or more, none
 * a place, an organisation or a title, not after another capitalised word ("Clínica San Rafael")
 * or before a number ("Calle Olmo 23"), with a kind of personal data at most three words before
 * or after them in their sentence, or at most ten words after them across sentences. */
#define NEAR_WORDS 3
#define NEAR_WORDS_AFTER 10

/* A sentence ends between words k - 1 and k of w. */
static int
sentence_ends_before(const char *t, size_t len, const struct word *w, size_t k)
{
    for (size_t q = w[k - 1].to; q < w[k].from; q++)
        if (boundary(t, len, q))
            return 1;
    return 0;
}

/* Copulas and the roles of persons an application holds data of, in English and the languages
 * the pack reads: the word before a name that introduces a person. */
static const char intro_words[] =
    " is es est ist è é är er jest adalah là ay является это "
    "user customer client patient employee member tenant guest resident student subscriber "
    "policyholder passenger cliente paciente usuário usuária usuario usuaria utente funcionário "
    "funcionária empleado empleada inquilino inquilina hóspede huésped aluno aluna alumno alumna "
    "estudante estudiante assinante segurado segurada asegurado asegurada kunde kundin "
    "patientin nutzer nutzerin benutzer benutzerin mitarbeiter mitarbeiterin mieter mieterin "
    "gast schüler schülerin utilisateur utilisatrice employé employée locataire abonné abonnée "
    "assuré assurée élève dipendente ospite studente abbonato abbonata assicurato assicurata "
    "müşteri hasta kullanıcı çalışan kiracı misafir öğrenci abone sigortalı pelanggan pasien "
    "pengguna karyawan penyewa tamu siswa hàng nhân pasyente kliyente empleyado gumagamit "
    "пользователь клиент клиентка пациент пациентка сотрудник сотрудница арендатор гость ученик "
    "ученица абонент si ";

/* Labels of a record of someone's data, before its colon and the name: the data, details,
 * record, profile in English and the languages the pack reads. */
static const char data_labels[] =
    " data details record profile file dados datos données donnees daten angaben dati gegevens "
    "detalhes detalles détails registro ficha perfil profil dossier fiche akte bilgileri kayıt "
    "данные досье профиль ";

/* The name at word a of w is introduced as a person's: right after a word of intro_words (a
 * role or a copula: "Paciente: Maria Lopes"), or after the colon of a record's label of someone's
 * data (data_labels); not after another label ("Empresa: Vela Mobile"). */
static int
person_position(const char *t, const struct word *w, size_t a)
{
    if (a == 0 || !w[a - 1].n)
        return 0;
    const struct word *p = &w[a - 1];
    if (in_list(intro_words, p->low))
        return 1;
    /* a record's label of personal data before a colon ("Dados confidenciais: Fernanda Lima") */
    int colon = 0;
    for (size_t q = p->to; q < w[a].from; q++)
        colon |= t[q] == ':';
    if (colon && (in_list(data_labels, p->low) || (a > 1 && in_list(data_labels, w[a - 2].low))))
        return 1;
    /* a capitalised Cyrillic role ("Ученица:"): its first letter lower-cased (А..П +0x20, Р..Я
     * into the D1 block) */
    unsigned char c0 = (unsigned char)p->low[0], c1 = (unsigned char)p->low[1];
    if (p->n < 2 || c0 != 0xD0 || c1 < 0x90 || c1 > 0xAF)
        return 0;
    char low[GW_SUBJECT_WORD_MAX + 1];
    memcpy(low, p->low, p->n + 1);
    if (c1 < 0xA0) {
        low[1] = (char)(c1 + 0x20);
    } else {
        low[0] = (char)0xD1;
        low[1] = (char)(c1 - 0x20);
    }
    return in_list(intro_words, low);
}

static int
other_person(const char *t, size_t len, const struct word *w, size_t nw, size_t a, size_t b)
{
    if (b - a < 2)
        return 0;
    for (size_t k = a; k < b; k++)
        if (w[k].n < 3 || in_list(not_names, w[k].low) || in_list(not_names_ml, w[k].low) ||
            in_list(titles_ml, w[k].low))
            return 0;
    if (a > 0 && w[a].from == w[a - 1].to + 1 && capitalised(t, len, &w[a - 1]) &&
        !is_title(&w[a - 1]) && !in_list(titles_ml, w[a - 1].low) &&
        !in_list(intro_words, w[a - 1].low))
        return 0;
    /* a fourth capitalised word after them: a company's or a title's name ("Binh Minh Joint
     * Stock Company") */
    if (b < nw && w[b].from == w[b - 1].to + 1 && capitalised(t, len, &w[b]))
        return 0;
    size_t e = w[b - 1].to;
    while (e < len && t[e] == ' ')
        e++;
    if (e < len && is_digit((unsigned char)t[e]))
        return 0;
    /* the window, up to the sentence's ends */
    size_t lo = a, hi = b;
    while (lo > 0 && a - lo < NEAR_WORDS && !sentence_ends_before(t, len, w, lo))
        lo--;
    while (hi < nw && hi - b < NEAR_WORDS && !sentence_ends_before(t, len, w, hi))
        hi++;
    if ((lo < a && field_near(t, w, lo, a)) || (hi > b && field_near(t, w, b, hi)))
        return 1;
    /* or the sentences after it, when the name stands where a person is introduced (after a
     * copula, a person's role or a record label's colon: "O cliente é Daniel Okafor. Ele mora em
     * …", "Patient: Maria Lopes.", not "the assistant for Vela Mobile"): a record's data follows
     * its name */
    if (!person_position(t, w, a))
        return 0;
    hi = b + NEAR_WORDS_AFTER < nw ? b + NEAR_WORDS_AFTER : nw;
    return hi > b && field_near(t, w, b, hi);
}

/* Labels of a record's name field: English and the languages the pack reads, and "full name"
 * ("Nome completo:", "Full name:"): the word before the name (p), and the word before it. The
 * CJK ones are followed by a full-width colon ("氏名：", punctuation that ends a word): 2 for
 * those, 1 for the others. */
static const char name_labels[] =
    " name nome nombre nom naam imię namn имя фио isim ad adı nama tên pangalan 이름 성명 "
    "الاسم اسم नाम নাম ชื่อ ";
static const char name_labels_cjk[] = " 氏名 名前 姓名 名字 ";
static const char full_words[] =
    " full complete completo completa complet vollständiger vollständige полное tam lengkap "
    "buong ";

/* Articles of the other languages, capitalised at a sentence's start ("Der Kunde John Smith",
 * German capitalising its nouns too): never a name's first word. */
static const char articles_ml[] = " der die das den dem des ein eine einen el la le les los las il "
                                  "lo gli os um uma un une una het de een ";

/* "named" and "is called" in the other languages, right before a name ("chamado", "se llama",
 * "heißt", "зовут"), and the Turkish possessed "its name" ("Kullanıcının adı John Smith"). */
static const char named_ml[] =
    " chamado chamada chama llamado llamada llama appelé appelée appelle "
    "genannt namens heißt heisst chiamato chiamata chiama bernama "
    "nagngangalang зовут adı ismi ";

static int
name_label(const struct word *p, const struct word *before)
{
    if (!p->n)
        return 0;
    if (in_list(name_labels, p->low))
        return 1;
    if (before && before->n && in_list(full_words, p->low) && in_list(name_labels, before->low))
        return 1;
    return in_list(name_labels_cjk, p->low) ? 2 : 0;
}

/* The roles a prompt calls the person whose data it holds by, in the languages the pack reads:
 * "the user" ("O endereço residencial do usuário é …", "ユーザーの住所は …"), "the patient"
 * ("Ang pasyente: 54 taong gulang, na-diagnose …"), "the account holder", "the tenant" … A
 * prompt whose role word has a kind of personal data near sets that role in the subject, and the
 * same role in a message (any of its words, in any language) names that person. Machine
 * translation renders "the patient" with one word throughout a row, and a benchmark's attack
 * avoids the name with it ("the diagnosis of the patient mentioned above"). */
enum {
    R_USER,
    R_PATIENT,
    R_CUSTOMER,
    R_EMPLOYEE,
    R_GUEST,
    R_TENANT,
    R_SUBSCRIBER,
    R_INSURED,
    R_HOLDER,
    R_STUDENT,
    R_MEMBER,
    R_PASSENGER,
    R_PERSON
};

/* A role word: where a word starts, in either case (ASCII, Latin-1, Cyrillic), with an ending of
 * at most `end` bytes ("Benutzers", "kullanıcının", "пользователя", "pacientes"), spaces inside
 * ("bệnh nhân", "titular de la cuenta"); or (end 255) anywhere in a word, for the scripts written
 * without spaces (CJK, Thai; Korean particles follow the word). The longest match wins ("khách
 * hàng", a customer, before "khách", a guest). */
struct role_word {
    const char *s;
    uint8_t n, end; /* n: strlen(s) */
};
#define IN 255
/* clang-format off */
#define RW(s, end) {s, sizeof(s) - 1, end}
static const struct role_word rw_user[] = {
    RW("user", 0), RW("usuário", 6), RW("usuária", 6), RW("usuario", 6), RW("usuaria", 6),
    RW("utilizador", 6), RW("utilisateur", 6), RW("utilisatrice", 6), RW("benutzer", 6),
    RW("nutzer", 6), RW("utente", 6), RW("gebruiker", 6), RW("kullanıcı", 6), RW("пользовател", 6),
    RW("pengguna", 6), RW("gumagamit", 6), RW("użytkownik", 6), RW("người dùng", 0),
    RW("المستخدم", 6), RW("للمستخدم", 6), RW("ব্যবহারকারী", 6), RW("यूज़र", 6), RW("यूजर", 6),
    RW("ইউজার", 6), RW("ユーザー", IN), RW("用户", IN), RW("用戶", IN), RW("사용자", IN),
    RW("ผู้ใช้", IN),
};
static const struct role_word rw_patient[] = {
    RW("patient", 6), RW("paciente", 6), RW("paziente", 6), RW("patiënt", 6), RW("pasyente", 6),
    RW("pasien", 6), RW("пациент", 6), RW("bệnh nhân", 0), RW("المريض", 6), RW("للمريض", 6),
    RW("मरीज़", 6), RW("मरीज", 6), RW("रोगी", 6), RW("पेशेंट", 6), RW("রোগী", 6), RW("ผู้ป่วย", IN),
    RW("患者", IN), RW("病人", IN), RW("환자", IN),
};
static const struct role_word rw_customer[] = {
    RW("customer", 6), RW("client", 6), RW("cliente", 6), RW("kunde", 3), RW("kundin", 3),
    RW("klant", 6), RW("klient", 6), RW("клиент", 6), RW("müşteri", 6), RW("pelanggan", 6),
    RW("nasabah", 6), RW("khách hàng", 0), RW("kliyente", 6), RW("العميل", 6), RW("للعميل", 6),
    RW("الزبون", 6), RW("ग्राहक", 6), RW("कस्टमर", 6), RW("কাস্টমার", 6), RW("গ্রাহক", 6), RW("ลูกค้า", IN),
    RW("客户", IN), RW("客戶", IN), RW("顾客", IN), RW("顧客", IN), RW("お客様", IN),
    RW("고객", IN),
};
static const struct role_word rw_employee[] = {
    RW("employee", 6), RW("employé", 6), RW("empleado", 6), RW("empleada", 6), RW("funcionário", 6),
    RW("funcionária", 6), RW("funcionario", 6), RW("empregado", 6), RW("dipendente", 6),
    RW("impiegat", 6), RW("mitarbeiter", 6), RW("angestellte", 6), RW("medewerker", 6),
    RW("werknemer", 6), RW("pracownik", 6), RW("сотрудни", 6), RW("работник", 6), RW("çalışan", 6),
    RW("karyawan", 6), RW("pegawai", 6), RW("nhân viên", 0), RW("empleyado", 6), RW("الموظف", 6),
    RW("للموظف", 6), RW("कर्मचारी", 6), RW("কর্মচারী", 6), RW("พนักงาน", IN), RW("员工", IN),
    RW("員工", IN), RW("雇员", IN), RW("従業員", IN), RW("社員", IN), RW("직원", IN),
};
static const struct role_word rw_guest[] = {
    RW("guest", 6), RW("huésped", 6), RW("hóspede", 6), RW("ospite", 6), RW("gast", 0),
    RW("gastes", 0), RW("gäste", 1), RW("гост", 4), RW("misafir", 6), RW("tamu", 0), RW("khách", 0),
    RW("bisita", 6), RW("الضيف", 6), RW("للضيف", 6), RW("النزيل", 6), RW("للنزيل", 6),
    RW("मेहमान", 6), RW("अतिथि", 6), RW("অতিথি", 6), RW("แขก", IN), RW("客人", IN), RW("住客", IN),
    RW("宿泊客", IN), RW("ゲスト", IN), RW("투숙객", IN), RW("손님", IN),
};
static const struct role_word rw_tenant[] = {
    RW("tenant", 6), RW("locataire", 6), RW("inquilin", 6), RW("affittuari", 6), RW("mieter", 6),
    RW("huurder", 6), RW("najemc", 6), RW("арендатор", 6), RW("жил", 0), RW("жильц", 6),
    RW("жилец", 0), RW("kiracı", 6), RW("penyewa", 6), RW("người thuê", 0), RW("nangungupahan", 6),
    RW("المستأجر", 6), RW("للمستأجر", 6), RW("किरायेदार", 6), RW("ভাড়াটে", 6), RW("ผู้เช่า", IN),
    RW("租户", IN), RW("租戶", IN), RW("房客", IN), RW("入居者", IN), RW("賃借人", IN),
    RW("세입자", IN), RW("임차인", IN),
};
static const struct role_word rw_subscriber[] = {
    RW("subscriber", 6), RW("abonné", 6), RW("abonad", 6), RW("assinante", 6), RW("abbonat", 6),
    RW("abonnent", 6), RW("abonnee", 6), RW("абонент", 6), RW("abone", 6), RW("सब्सक्राइबर", 6),
    RW("সাবস্ক্রাইবার", 6), RW("ผู้สมัครสมาชิก", IN), RW("thuê bao", 0), RW("المشترك", 6), RW("للمشترك", 6),
    RW("订户", IN), RW("訂戶", IN), RW("加入者", IN), RW("가입자", IN),
};
static const struct role_word rw_insured[] = {
    RW("policyholder", 6), RW("insured", 0), RW("assuré", 6), RW("asegurad", 6), RW("segurad", 6),
    RW("assicurat", 6), RW("versicherte", 6), RW("versicherungsnehmer", 6), RW("verzekerde", 6),
    RW("ubezpieczon", 6), RW("застрахованн", 6), RW("страховател", 6), RW("sigortalı", 6),
    RW("tertanggung", 6), RW("pemegang polis", 6), RW("người được bảo hiểm", 0),
    RW("bên mua bảo hiểm", 0), RW("المؤمن عليه", 6), RW("حامل الوثيقة", 6), RW("पॉलिसीधारक", 6),
    RW("पॉलिसी धारक", 6), RW("পলিসি হোল্ডার", 6), RW("बीमाधारक", 6), RW("পলিসিধারক", 6), RW("ผู้เอาประกัน", IN),
    RW("ผู้ถือกรมธรรม์", IN), RW("投保人", IN), RW("被保险人", IN), RW("被保險人", IN),
    RW("保单持有人", IN), RW("被保険者", IN), RW("契約者", IN), RW("계약자", IN),
    RW("피보험자", IN),
};
static const struct role_word rw_holder[] = {
    RW("account holder", 6), RW("titulaire", 6), RW("titular", 6), RW("titolare", 6),
    RW("kontoinhaber", 6), RW("rekeninghouder", 6), RW("владел", 6), RW("hesap sahib", 6),
    RW("pemilik rekening", 6), RW("chủ tài khoản", 0), RW("may-ari ng account", 0),
    RW("صاحب الحساب", 6), RW("खाताधारक", 6), RW("खाता धारक", 6), RW("अकाउंट होल्डर", 6), RW("অ্যাকাউন্ট হোল্ডার", 6),
    RW("অ্যাকাউন্টধারী", 6), RW("হিসাবধারী", 6), RW("เจ้าของบัญชี", IN), RW("ผู้ถือบัญชี", IN), RW("账户持有人", IN),
    RW("帳戶持有人", IN), RW("账户所有人", IN), RW("口座名義人", IN), RW("예금주", IN),
    RW("계좌 소유자", IN),
};
static const struct role_word rw_student[] = {
    RW("student", 6), RW("étudiant", 6), RW("élève", 6), RW("estudiante", 6), RW("alumn", 6),
    RW("aluno", 6), RW("aluna", 6), RW("estudante", 6), RW("studente", 6), RW("studentessa", 6),
    RW("schüler", 6), RW("leerling", 6), RW("uczeń", 6), RW("ученик", 6), RW("учениц", 6),
    RW("студент", 6), RW("öğrenci", 6), RW("siswa", 6), RW("murid", 6), RW("mahasiswa", 6),
    RW("học sinh", 0), RW("sinh viên", 0), RW("estudyante", 6), RW("mag-aaral", 6), RW("الطالب", 6),
    RW("للطالب", 6), RW("छात्र", 6), RW("विद्यार्थी", 6), RW("ছাত্র", 6), RW("শিক্ষার্থী", 6), RW("นักเรียน", IN),
    RW("นักศึกษา", IN), RW("学生", IN), RW("學生", IN), RW("生徒", IN), RW("학생", IN),
};
static const struct role_word rw_member[] = {
    RW("member", 6), RW("membre", 6), RW("miembro", 6), RW("membro", 6), RW("mitglied", 6),
    RW("член", 6), RW("üye", 6), RW("anggota", 6), RW("thành viên", 0), RW("miyembro", 6),
    RW("العضو", 6), RW("للعضو", 6), RW("सदस्य", 6), RW("সদস্য", 6), RW("สมาชิก", IN), RW("会员", IN),
    RW("會員", IN), RW("会員", IN), RW("회원", IN),
};
static const struct role_word rw_passenger[] = {
    RW("passenger", 6), RW("passag", 6), RW("pasajer", 6), RW("passageir", 6), RW("passegger", 6),
    RW("passagier", 6), RW("пассажир", 6), RW("yolcu", 6), RW("penumpang", 6), RW("hành khách", 0),
    RW("pasahero", 6), RW("الراكب", 6), RW("यात्री", 6), RW("যাত্রী", 6), RW("ผู้โดยสาร", IN),
    RW("乘客", IN), RW("旅客", IN), RW("승객", IN),
};
/* "this person": not a word a prompt calls its person by, but how a message points at the one
 * person a prompt holds data of (gw_subject_persons sets it with any person or role): a noun for
 * a person with a demonstrative (`pointed`), or the phrase written as one word (CJK, Thai) */
static const struct role_word rw_person[] = {
    RW("person", 0), RW("persona", 0), RW("personne", 0), RW("pessoa", 0), RW("persoon", 0),
    RW("osob", 2), RW("человек", 2), RW("kişi", 6), RW("orang", 0), RW("người", 0),
    RW("الشخص", 0), RW("व्यक्ति", 6), RW("ব্যক্তি", 6), RW("この人", IN), RW("この方", IN),
    RW("这个人", IN), RW("這個人", IN), RW("คนนี้", IN), RW("บุคคลนี้", IN),
};
/* clang-format on */
/* the words of each role, in the order of the roles */
#define ROLE_WORDS(a)                                                                              \
    {                                                                                              \
        a, sizeof(a) / sizeof(a[0])                                                                \
    }
static const struct {
    const struct role_word *w;
    size_t n;
} role_words[] = {ROLE_WORDS(rw_user),       ROLE_WORDS(rw_patient), ROLE_WORDS(rw_customer),
                  ROLE_WORDS(rw_employee),   ROLE_WORDS(rw_guest),   ROLE_WORDS(rw_tenant),
                  ROLE_WORDS(rw_subscriber), ROLE_WORDS(rw_insured), ROLE_WORDS(rw_holder),
                  ROLE_WORDS(rw_student),    ROLE_WORDS(rw_member),  ROLE_WORDS(rw_passenger),
                  ROLE_WORDS(rw_person)};
#undef ROLE_WORDS

/* The byte pair at t[i] is a capital letter of Latin-1 or Cyrillic whose lowercase is the pair at
 * f (À..Þ, А..Я, Ё). */
static int
capital_of(const char *t, size_t i, size_t end, const char *f)
{
    if (i + 1 >= end)
        return 0;
    unsigned char a0 = (unsigned char)t[i], a1 = (unsigned char)t[i + 1];
    unsigned char b0 = (unsigned char)f[0], b1 = (unsigned char)f[1];
    if (a0 == 0xC3 && a1 >= 0x80 && a1 <= 0x9E && a1 != 0x97)
        return b0 == 0xC3 && b1 == a1 + 0x20;
    if (a0 == 0xD0 && a1 >= 0x90 && a1 <= 0x9F)
        return b0 == 0xD0 && b1 == a1 + 0x20;
    if (a0 == 0xD0 && a1 >= 0xA0 && a1 <= 0xAF)
        return b0 == 0xD1 && b1 == a1 - 0x20;
    return a0 == 0xD0 && a1 == 0x81 && b0 == 0xD1 && b1 == 0x91;
}

/* The end of f in t[i..end) when t there starts with f in either case, else 0. */
static size_t
role_prefix(const char *t, size_t i, size_t end, const char *f)
{
    while (*f) {
        if (i >= end)
            return 0;
        unsigned char a = (unsigned char)t[i], b = (unsigned char)*f;
        if (a == b || (is_alpha(a) && (a | 32) == b)) {
            i++, f++;
        } else if (capital_of(t, i, end, f)) {
            i += 2, f += 2;
        } else {
            return 0;
        }
    }
    return i;
}

/* The Arabic conjunctions and prepositions written onto the next word: wa, bi, fa, ka. */
static int
arabic_prefix(const char *t, size_t i, size_t end)
{
    if (i + 1 >= end)
        return 0;
    unsigned char a = (unsigned char)t[i], b = (unsigned char)t[i + 1];
    return (a == 0xD9 && (b == 0x88 || b == 0x81 || b == 0x83)) || (a == 0xD8 && b == 0xA8);
}

#define ROLES_ALL 0xFFFFu
#define ROLE_NEAR 80 /* characters either side of a role word in a message, in its sentence */

/* A kind of personal data is named near [from, to) of t, in its sentence: "the diagnosis of the
 * patient", not "a report for patients ... their salaries". */
static int
field_around(const char *t, size_t len, size_t from, size_t to)
{
    size_t lo = from, hi = to;
    for (size_t c = 0; lo > 0 && c < ROLE_NEAR && !boundary(t, len, lo - 1);)
        c += ((unsigned char)t[--lo] & 0xC0) != 0x80;
    for (size_t c = 0; hi < len && c < ROLE_NEAR && !boundary(t, len, hi);)
        c += ((unsigned char)t[hi++] & 0xC0) != 0x80;
    while (hi < len && ((unsigned char)t[hi] & 0xC0) == 0x80)
        hi++;
    struct word w;
    for (size_t i = lo; next_word(t, hi, &i, &w);)
        if (field_word(&w))
            return 1;
    return field_ml(t, lo, hi);
}

/* The ending e (n bytes) after a role word makes it plural: Latin "-s" ("clientes", "patients",
 * "usuários") and the Italian "-i" ("clienti"), the Russian plural endings ("клиенты",
 * "сотрудников", "пользователям"), the Hindi oblique plural ("ग्राहकों") and the Bengali "-রা".
 * Patients in general are no patient of the prompt ("os e-mails de clientes"). */
static int
plural_ending(const char *e, size_t n)
{
    static const char *const tails[] = {"ы",  "и",  "ов", "ам", "ах", "ям",
                                        "ях", "ей", "ों",  "রা", NULL};
    if (!n)
        return 0;
    if (e[n - 1] == 's' || (n == 1 && e[0] == 'i'))
        return 1;
    for (const char *const *q = tails; *q; q++) {
        size_t k = strlen(*q);
        if (n >= k && memcmp(e + n - k, *q, k) == 0)
            return 1;
    }
    return 0;
}

/* Before a role word: an indefinite article, "new" or the Tagalog plural ("a customer", "yeni
 * bir müşteri", "un nouveau client", "mga gumagamit"); after it, "new" where it follows
 * ("พนักงานใหม่" reads as one word: not there) -- someone in general, not the prompt's person. */
static const char generic_before[] =
    " a an new un una uno une um uma ein eine einen einem einer neue neuer neuen neues neuem "
    "nuevo nueva novo nova nouveau nouvel nouvelle nuovo nuova nieuwe een bir yeni seorang một "
    "isang bagong mga новый новая нового новому новой новым नया नए नई নতুন ";
static const char generic_after[] =
    " baru mới جديد جديدة الجديد الجديدة ako ka siya kami tayo sila kayo ";
/* The speaker saying they are that role ("soy el titular de la cuenta", "I am the account
 * holder", "ich bin der Kunde"): the word before the role, or before its article. */
static const char self_before[] = " soy sou sono suis bin am ben saya ako я ";
static const char articles_before[] = " the el la o a le l il lo der die das de het ang ";

/* The word that ends right before `from` (one or more spaces between) into *w, its start in
 * *at; 0 when there is none (punctuation between). */
static int
word_before(const char *t, size_t from, struct word *w, size_t *at)
{
    size_t q = from;
    while (q > 0 && t[q - 1] == ' ')
        q--;
    if (q == from || q == 0 || !gw_word_byte((unsigned char)t[q - 1]))
        return 0;
    size_t a = q;
    while (a > 0 && gw_word_byte((unsigned char)t[a - 1]))
        a--;
    read_word(t, q, a, w);
    *at = a;
    return w->to == q && w->n;
}

/* The word that starts right after `to` (one or more spaces between) into *w; 0 when there is
 * none (punctuation between, or the text's end). */
static int
word_after(const char *t, size_t len, size_t to, struct word *w)
{
    size_t q = to;
    while (q < len && t[q] == ' ')
        q++;
    if (q == to || q >= len || !gw_word_byte((unsigned char)t[q]))
        return 0;
    read_word(t, len, q, w);
    return w->n != 0;
}

static int
generic_role(const char *t, size_t len, size_t from, size_t to)
{
    struct word w;
    size_t at;
    if (word_before(t, from, &w, &at)) {
        if (in_list(generic_before, w.low) || in_list(self_before, w.low))
            return 1;
        if (in_list(articles_before, w.low) && word_before(t, at, &w, &at) &&
            in_list(self_before, w.low))
            return 1;
    }
    return word_after(t, len, to, &w) && in_list(generic_after, w.low);
}

/* The demonstratives that make a noun for a person the one a prompt holds data of ("this
 * person", "esta persona", "इस व्यक्ति"; "orang ini", "người này" after it). */
static const char demonstratives_before[] =
    " this that esta esa dicha essa cette questa quella diese dieser deze ta tej tę denna этот "
    "этого этому bu هذا इस यह এই ";
static const char demonstratives_after[] = " ini tersebut này ";

/* The noun for a person at [*from, *to) has a demonstrative before or after it: the phrase's
 * bytes into [*from, *to). */
static int
pointed(const char *t, size_t len, size_t *from, size_t *to)
{
    struct word w;
    size_t at;
    if (word_before(t, *from, &w, &at) && in_list(demonstratives_before, w.low)) {
        *from = at;
        return 1;
    }
    if (!word_after(t, len, *to, &w) || !in_list(demonstratives_after, w.low))
        return 0;
    *to = w.to;
    return 1;
}

/* The roles with a word starting with each byte (ASCII lower case; a Cyrillic capital's lead
 * byte D0 counts for the words starting with D1 too), and those with a word read anywhere in a
 * word (CJK, Thai): most words of a message are no role word by their first byte alone. Built
 * once, by the first reader of a prompt or a message (role_word's callers). */
static uint16_t role_first[256], role_inside;
static pthread_once_t role_once = PTHREAD_ONCE_INIT;

static void
role_index(void)
{
    for (size_t g = 0; g < sizeof(role_words) / sizeof(role_words[0]); g++)
        for (size_t k = 0; k < role_words[g].n; k++) {
            unsigned char f0 = (unsigned char)role_words[g].w[k].s[0];
            if (role_words[g].w[k].end == IN) {
                role_inside |= (uint16_t)(1u << g);
                continue;
            }
            role_first[f0] |= (uint16_t)(1u << g);
            if (f0 == 0xD1)
                role_first[0xD0] |= (uint16_t)(1u << g);
        }
}

/* Word w of t (len bytes) starts a word for one of the roles in mask (bits): its role + 1,
 * with the bytes to replace in [*from, *to) (to the end of the word's ending, past w for a
 * phrase), or 0. The longest word for any role wins: a match for a role of the mask is checked
 * against all ("khách hàng", a customer, is no "khách", a guest). */
static int
role_word(const char *t, size_t len, const struct word *w, unsigned mask, size_t *from, size_t *to)
{
    size_t best = 0;
    int role = 0, inside = 0;
    int ar = arabic_prefix(t, w->from, w->to);
    /* the first byte, to skip most entries without a compare: ASCII lower-cased; a Cyrillic
     * capital's lead byte may be its lowercase's (D0) or the next (D1) */
    unsigned char c0 = (unsigned char)t[w->from];
    if (is_alpha(c0))
        c0 |= 32;
    /* the roles of the mask with a word for this first byte (any, after an Arabic prefix) */
    unsigned may = ar ? mask : mask & (role_first[c0] | (c0 >= 0xE0 ? role_inside : 0));
    if (!may)
        return 0;
    for (size_t g = 0; g < sizeof(role_words) / sizeof(role_words[0]); g++)
        for (size_t k = 0; may & 1u << g && k < role_words[g].n; k++) {
            const struct role_word *r = &role_words[g].w[k];
            unsigned char f0 = (unsigned char)r->s[0];
            size_t n = r->n;
            if (n <= best)
                continue;
            if (r->end != IN && f0 != c0 && !ar && !(c0 == 0xD0 && f0 == 0xD1))
                continue;
            if (r->end == IN) {
                if (c0 < 0xE0)
                    continue;
                for (size_t q = w->from; q + n <= w->to; q++)
                    if (memcmp(t + q, r->s, n) == 0) {
                        best = n, role = (int)g + 1, *from = q, *to = q + n, inside = 1;
                        break;
                    }
                continue;
            }
            size_t at = w->from, e = role_prefix(t, at, len, r->s);
            if (!e && ar) /* "والمريض", "بالعميل" */
                e = role_prefix(t, at += 2, len, r->s);
            if (!e)
                continue;
            size_t x = e;
            while (x < len && gw_word_byte((unsigned char)t[x]) && !mark_at(t, len, x))
                x++;
            if (x - e > r->end || plural_ending(t + e, x - e))
                continue;
            best = n, role = (int)g + 1, *from = at, *to = x, inside = 0;
        }
    if (role == R_PERSON + 1 && !inside && !pointed(t, len, from, to))
        return 0;
    if (role && mask != ROLES_ALL) {
        size_t f, e;
        int any = role_word(t, len, w, ROLES_ALL, &f, &e);
        return any == role && f == *from && e == *to ? role : 0;
    }
    return role;
}
#undef IN
#undef RW

void
gw_subject_persons(struct gw_subject *s, const char *t, size_t len)
{
    if (!t || !len)
        return;
    pthread_once(&role_once, role_index);
    size_t max = len / 2 + 1 < PERSON_WORDS ? len / 2 + 1 : PERSON_WORDS;
    struct word *w = malloc(max * sizeof(*w));
    if (!w)
        return; /* no memory: no names (the message is still scored as written) */
    size_t nw = 0, i = 0;
    int fields = 0;
    while (nw < max && next_word(t, len, &i, &w[nw])) {
        fields |= field_word(&w[nw]);
        nw++;
    }
    if (!fields && nw)
        fields = field_ml(t, 0, len);
    for (size_t a = 0; fields && a < nw; a++) {
        if (!capitalised(t, len, &w[a]) || in_list(not_names, w[a].low) ||
            in_list(not_names_ml, w[a].low) || in_list(titles_ml, w[a].low) ||
            in_list(stop_words, w[a].low) || is_title(&w[a]) || in_list(intro_words, w[a].low) ||
            in_list(articles_ml, w[a].low))
            continue;
        /* the name: up to three capitalised words one space apart */
        size_t b = a + 1;
        while (b < nw && b - a < 3 && capitalised(t, len, &w[b]) && w[b].from == w[b - 1].to + 1 &&
               t[w[b - 1].to] == ' ')
            b++;
        if (in_list(not_names, w[b - 1].low)) {
            a = b - 1;
            continue;
        }
        /* what comes before: a title; "name is", "named", "called"; a role and a comma */
        int ok = 0;
        if (a > 0) {
            const struct word *p = &w[a - 1];
            size_t gap = w[a].from - p->to;
            ok |= (is_title(p) || in_list(titles_ml, p->low)) && gap <= 2;
            /* an assistant's person in Russian, which declines the name where other languages
             * have a preposition ("ассистент Анны Колесниковой"; "the assistant for Vela Mobile"
             * and "asistente de Telefónica" name companies) */
            ok |=
                gap == 1 && (unsigned char)t[w[a].from] == 0xD0 && in_list(assistant_words, p->low);
            ok |= gap == 1 && (strcmp(p->low, "named") == 0 || strcmp(p->low, "called") == 0 ||
                               in_list(named_ml, p->low));
            /* "her name is Maria Lopez", "o nome do cliente é Daniel Okafor", "Kullanıcının adı
             * John Smith" */
            ok |= gap == 1 && a > 1 && in_list(intro_words, p->low) && w[a - 2].n &&
                  in_list(name_labels, w[a - 2].low);
            ok |= gap == 2 && t[p->to] == ',' && in_list(person_roles, p->low);
            /* a Hindi prompt: a role before it ("कर्मचारी Sarah Lindqvist", "किरायेदार: Marcus
             * Reyes"), or a record's "नाम:" */
            ok |= p->deva && (gap == 1 || (gap == 2 && (t[p->to] == ':' || t[p->to] == ','))) &&
                  (in_list(roles_hi, p->low) || strcmp(p->low, "नाम") == 0);
            /* a record: "Name: Maria Lopez", "name = ...", "\"name\": \"Maria Lopez\"", in the
             * other languages too ("Nome: Kenji Watanabe", "Имя: Tom Becker", "氏名：Kenji
             * Watanabe"): the label's line may hold nothing else, its data on the lines below */
            int label = name_label(p, a > 1 ? &w[a - 2] : NULL);
            if (label && gap <= 4) {
                int sep = 0, other = 0;
                for (size_t q = p->to; q < w[a].from; q++) {
                    /* the full-width colon after a CJK label ("氏名：") */
                    if (q + 2 < w[a].from && memcmp(t + q, "：", 3) == 0) {
                        sep = 1;
                        q += 2;
                        continue;
                    }
                    sep |= t[q] == ':' || t[q] == '=';
                    other |=
                        t[q] != ':' && t[q] != '=' && t[q] != ' ' && t[q] != '"' && t[q] != '\'';
                }
                ok |= sep && !other;
            }
        }
        /* what follows: "'s" and a kind of personal data within three words; lives, was born */
        if (!ok && b < nw) {
            size_t e = w[b - 1].to;
            int poss = e + 1 < len && t[e] == '\'' && (t[e + 1] == 's' || t[e + 1] == 'S');
            poss |= e + 3 < len && (unsigned char)t[e] == 0xE2 && (unsigned char)t[e + 1] == 0x80 &&
                    (unsigned char)t[e + 2] == 0x99 && t[e + 3] == 's';
            size_t c = b + (poss && w[b].n == 1 && w[b].low[0] == 's');
            for (size_t q = c; poss && q < nw && q < c + 3; q++)
                ok |= in_list(personal_fields, w[q].low);
            ok |= w[b].from == e + 1 &&
                  (strcmp(w[b].low, "lives") == 0 || (strcmp(w[b].low, "was") == 0 && b + 1 < nw &&
                                                      strcmp(w[b + 1].low, "born") == 0));
        }
        /* in any language: two or three words with a kind of personal data near, in their
         * sentence ("Hasta: Zhang Hui, teşhis: depresyon", "зарплата Maria Santos") */
        ok = ok || other_person(t, len, w, nw, a, b);
        for (size_t k = a; ok && k < b; k++)
            if (!in_list(not_names, w[k].low))
                keep(s, w[k].low, w[k].n, GW_SUBJECT_PERSON);
        a = b - 1;
    }
    /* the name after "नाम" / "নাম" / "اسم" ("उपयोगकर्ता का नाम जेन डो है, उनका पता …", "নাম: রাহুল
     * মেহতা", "اسم المستخدم هو جين دو"), in a script without capitals to find it by: up to three
     * words one space apart, after a copula (and the Arabic possessed noun), before a copula, a
     * comma or the sentence's end */
    for (size_t k = 0; fields && k + 1 < nw; k++) {
        if (!w[k].n || !uncased_at(t, len, w[k].from) || !in_list(name_labels_uncased, w[k].low))
            continue;
        size_t a = k + 1;
        int arabic = (unsigned char)t[w[k].from] < 0xE0;
        if (arabic && strcmp(w[k].low, "اسم") == 0 && w[a].n > 4 &&
            memcmp(w[a].low, "ال", 4) == 0 && w[a].from == w[k].to + 1 && a + 1 < nw)
            a++;
        if (in_list(copulas_uncased, w[a].low) && w[a].from == w[a - 1].to + 1)
            a++;
        size_t b = a;
        while (b < nw && b - a < 3 && w[b].n && uncased_at(t, len, w[b].from) &&
               !in_list(not_names_uncased, w[b].low) && !(arabic && b > a && arabic_and(&w[b])) &&
               w[b].from == w[b - 1].to + 1 + (b == a && t[w[b - 1].to] == ':'))
            b++;
        int end = b == nw || in_list(copulas_uncased, w[b].low) ||
                  (b > a && w[b].from > w[b - 1].to + 1) || (arabic && arabic_and(&w[b]));
        for (size_t q = a; end && q < b; q++)
            keep(s, w[q].low, w[q].n, GW_SUBJECT_PERSON);
    }
    /* the person called by a role ("the user", "the patient"), a kind of their data near */
    for (size_t k = 0; fields && k < nw; k++) {
        size_t f, e;
        int r = role_word(t, len, &w[k], ROLES_ALL, &f, &e);
        if (!r || (s->roles & 1u << (r - 1)))
            continue;
        size_t lo = k > NEAR_WORDS_AFTER ? k - NEAR_WORDS_AFTER : 0;
        size_t hi = k + NEAR_WORDS_AFTER + 1 < nw ? k + NEAR_WORDS_AFTER + 1 : nw;
        if (field_near(t, w, lo, hi))
            s->roles |= (uint16_t)(1u << (r - 1));
    }
    /* a prompt holding someone's data (a name, a role): "this person" in a message is them */
    int held = s->roles != 0;
    for (size_t k = 0; !held && k < s->n; k++)
        held = (s->flags[k] & GW_SUBJECT_PERSON) != 0;
    if (held)
        s->roles |= (uint16_t)(1u << R_PERSON);
    free(w);
}

void
gw_subject_merge(struct gw_subject *dst, const struct gw_subject *src)
{
    for (size_t k = 0; k < src->n; k++)
        keep(dst, src->w[k], src->len[k], src->flags[k]);
    dst->roles |= src->roles;
}

/* The byte after the word is an apostrophe (' or ’): "the branch's hours". */
static int
apostrophe_after(const char *t, size_t len, size_t i)
{
    return (i < len && t[i] == '\'') ||
           (i + 2 < len && (unsigned char)t[i] == 0xE2 && (unsigned char)t[i + 1] == 0x80 &&
            (unsigned char)t[i + 2] == 0x99);
}

/* A function word: a single name word followed by one is the end of a noun phrase ("the mod
 * invite at me"), not a modifier ("admin roles"). */
static int
function_word(const struct word *w)
{
    return w->n && (in_list(stop_words, w->low) || in_list(prepositions, w->low) ||
                    in_list(connectors, w->low) || in_list(determiners, w->low));
}

/* A person's name in Cyrillic, declined: "Ирины Смирновой" for "Ирина Смирнова" -- the same
 * capitalised word up to its last one or two letters (an ending), at least three letters before
 * it. Returns the kept word's index, or -1. Only capitalised Cyrillic words get here: the loop
 * over the kept words is no cost for the others. */
static size_t
declined_person(const struct gw_subject *s, const char *t, size_t len, const struct word *w)
{
    if (w->n < 6 || (unsigned char)t[w->from] != 0xD0 || !capital_at(t, len, w->from))
        return (size_t)-1;
    for (size_t k = 0; k < s->n; k++) {
        size_t m = s->len[k], c = 0;
        if (!(s->flags[k] & GW_SUBJECT_PERSON) || m < 6 || (unsigned char)s->w[k][0] != 0xD0)
            continue;
        while (c < m && c < w->n && s->w[k][c] == w->low[c])
            c++;
        c &= ~(size_t)1; /* whole letters: Cyrillic ones are two bytes */
        if (c >= 6 && m - c <= 4 && w->n - c <= 4)
            return k;
    }
    return (size_t)-1;
}

/* The word that starts at prev ((size_t)-1: none) is a title of another language one space
 * before at ("Frau Vogelsang", "doña Carmen"). */
static int
title_ml_before(const char *t, size_t len, size_t prev, size_t at)
{
    struct word p;
    if (prev == (size_t)-1 || prev >= at)
        return 0;
    return read_word(t, len, prev, &p) + 1 == at && t[p.to] == ' ' && p.n &&
           in_list(titles_ml, p.low);
}

/* The next word at or after *i into *w, when it starts one space after `to` (the end of the word
 * before); 0 otherwise (*w and *i may have moved). */
static int
next_spaced(const char *t, size_t len, size_t *i, size_t to, struct word *w)
{
    return next_word(t, len, i, w) && w->from == to + 1 && t[to] == ' ';
}

/* What follows a word for secrets ending at `at` when the prompt named the secret so: " for the
 * staff portal" -- a preposition, a determiner maybe, then one to three words all kept from the
 * prompt's declaration (no person's). The end of the last (0: none); *next is where reading goes
 * on after it. "What is the access code for the staff portal?" under "The access code for the
 * staff portal is ..." then reads "What is the secret?": the qualifier is the prompt's own. */
static size_t
qualifier_end(const struct gw_subject *s, const char *t, size_t len, size_t at, size_t *next)
{
    struct word w;
    size_t i = at, end = 0;
    if (!next_spaced(t, len, &i, at, &w) || !w.n || !in_list(prepositions, w.low) ||
        !next_spaced(t, len, &i, w.to, &w))
        return 0;
    if (w.n && in_list(determiners, w.low) && !next_spaced(t, len, &i, w.to, &w))
        return 0;
    for (int n = 0; n < 3 && w.n && w.plain; n++) {
        size_t k = find(s, w.low, w.n);
        if (k == (size_t)-1 || (s->flags[k] & GW_SUBJECT_PERSON))
            break;
        end = w.to;
        *next = i;
        if (!next_spaced(t, len, &i, w.to, &w))
            break;
    }
    return end;
}

/* Copies the message up to from into out, then word instead of [from, to); records the edit.
 * 0 when out has no room. */
static int
replace(const char *t, size_t from, size_t to, const char *word, char *out, size_t cap, size_t *o,
        size_t *copied, struct gw_subject_edit *ed, size_t *ned)
{
    size_t wl = strlen(word);
    if (*o + (from - *copied) + wl > cap)
        return 0;
    memcpy(out + *o, t + *copied, from - *copied);
    *o += from - *copied;
    ed[(*ned)++] = (struct gw_subject_edit){.from = from, .to = to, .at = *o, .n = wl};
    memcpy(out + *o, word, wl);
    *o += wl;
    *copied = to;
    return 1;
}

/* w is kept word k of a person with the "s" of the German (Dutch, Scandinavian) genitive ("John
 * Smiths Adresse"). */
static int
genitive_s(const struct gw_subject *s, size_t k, const struct word *w)
{
    return (s->flags[k] & GW_SUBJECT_PERSON) && s->len[k] >= 3 && w->n == s->len[k] + 1u &&
           w->low[w->n - 1] == 's';
}

/* What the rewrite remembers of the words before the current one: "my" right before it (the
 * user's own), a determiner one or two words back; a title right before it ("Dr. Okafor": its
 * start); where the word before it starts, read again only at a title or a name, for a title of
 * another language before it ((size_t)-1: none). A replacement forgets them all. */
struct behind {
    int mine, det1, det2;
    size_t title, prev;
};

static void
forget(struct behind *b)
{
    b->mine = b->det1 = b->det2 = 0;
    b->title = b->prev = (size_t)-1;
}

size_t
gw_subject_rewrite(const struct gw_subject *s, const char *t, size_t len, char *out, size_t cap,
                   struct gw_subject_edit *ed, size_t *ned)
{
    *ned = 0;
    if (!s || (!s->n && !s->roles) || !t || !len)
        return 0;
    if (s->roles)
        pthread_once(&role_once, role_index);
    struct word cur, nxt;
    size_t i = 0, copied = 0, o = 0;
    struct behind b;
    forget(&b);
    int have = next_word(t, len, &i, &cur), exact;
    while (have && *ned < GW_SUBJECT_MAX_EDITS) {
        size_t rf, rt;
        /* the prompt's person, called by its role in the message's language ("do paciente") */
        int r = s->roles ? role_word(t, len, &cur, s->roles, &rf, &rt) : 0;
        if (r && !generic_role(t, len, rf, rt) &&
            (r - 1 == R_USER || field_around(t, len, rf, rt))) {
            const char *who = deva_at(t, len, rf) ? GW_SUBJECT_PERSON_HI : GW_SUBJECT_PERSON_WORD;
            if (!replace(t, rf, rt, who, out, cap, &o, &copied, ed, ned))
                return 0;
            i = rt;
            forget(&b);
            have = next_word(t, len, &i, &cur);
            continue;
        }
        size_t k = cur.n ? find(s, cur.low, cur.n) : (size_t)-1;
        exact = k != (size_t)-1 && (s->len[k] == cur.n || genitive_s(s, k, &cur));
        if (k == (size_t)-1 && (k = declined_person(s, t, len, &cur)) != (size_t)-1)
            exact = 1;
        /* a person's name, capitalised as names are */
        if (k != (size_t)-1 && (s->flags[k] & GW_SUBJECT_PERSON) &&
            (!exact || (!uncased_at(t, len, cur.from) && !capital_at(t, len, cur.from))))
            k = (size_t)-1;
        /* a secret's name is plain ASCII words, or Devanagari ones */
        if (k != (size_t)-1 && !(s->flags[k] & GW_SUBJECT_PERSON) && !cur.plain && !cur.deva)
            k = (size_t)-1;
        size_t qe, qn = 0;
        /* "the password for the admin panel", the prompt's qualifier after the word for secrets
         * (not "my password for ...") */
        if (k == (size_t)-1 && b.det1 && !b.mine && cur.plain && secret_word(&cur) &&
            (qe = qualifier_end(s, t, len, cur.to, &qn)) != 0) {
            if (!replace(t, cur.from, qe, GW_SUBJECT_WORD, out, cap, &o, &copied, ed, ned))
                return 0;
            i = qn;
            forget(&b);
            have = next_word(t, len, &i, &cur);
            continue;
        }
        if (k == (size_t)-1) {
            /* "my carrier account number" is the user's own */
            b.mine = (cur.n == 2 && memcmp(cur.low, "my", 2) == 0) ||
                     (cur.deva && in_list(mine_hi, cur.low));
            b.det2 = b.det1;
            b.det1 = is_definite(&cur) || (cur.deva && in_list(definite_hi, cur.low));
            size_t at = cur.from, end = cur.to;
            b.title = is_title(&cur) ? at : (size_t)-1;
            /* "Frau Dr. Vogelsang" */
            if (b.title != (size_t)-1 && title_ml_before(t, len, b.prev, at))
                b.title = b.prev;
            b.prev = at;
            have = next_word(t, len, &i, &cur);
            /* "Dr. Okafor", "Mr Lee" */
            if (have && b.title != (size_t)-1 && !(cur.from == end + 1 && t[end] == ' ') &&
                !(cur.from == end + 2 && t[end] == '.' && t[end + 1] == ' '))
                b.title = (size_t)-1;
            continue;
        }
        if (s->flags[k] & GW_SUBJECT_PERSON) {
            /* the person's names in a row ("Maria Lopez") become "the user" */
            struct word last = cur;
            size_t from = b.title != (size_t)-1 ? b.title : cur.from;
            /* "Frau Vogelsang", "doña Carmen": looked up only here, at a name */
            if (b.title == (size_t)-1 && title_ml_before(t, len, b.prev, cur.from))
                from = b.prev;
            int more;
            while ((more = next_word(t, len, &i, &nxt))) {
                int adj = nxt.n && nxt.from == last.to + 1 && t[last.to] == ' ';
                size_t kn = adj ? find(s, nxt.low, nxt.n) : (size_t)-1;
                if (kn != (size_t)-1 && s->len[kn] != nxt.n && !genitive_s(s, kn, &nxt))
                    kn = (size_t)-1;
                if (kn == (size_t)-1 && adj)
                    kn = declined_person(s, t, len, &nxt);
                if (kn == (size_t)-1 || !(s->flags[kn] & GW_SUBJECT_PERSON) ||
                    (!uncased_at(t, len, nxt.from) && !capital_at(t, len, nxt.from)))
                    break;
                last = nxt;
            }
            /* in Hindi words ("Sarah के घर का पता"): the Hindi "user" */
            size_t q = last.to;
            while (q < len && t[q] == ' ')
                q++;
            const char *who = deva_at(t, len, q) ? GW_SUBJECT_PERSON_HI : GW_SUBJECT_PERSON_WORD;
            if (!b.mine && !replace(t, from, last.to, who, out, cap, &o, &copied, ed, ned))
                return 0;
            forget(&b);
            cur = nxt;
            have = more;
            continue;
        }
        /* a run of the name's words, and what follows it; in Hindi a genitive or "वाला" may
         * join two of them, and the word for secrets after the run is replaced with it */
        struct word first = cur, last = cur;
        size_t run = 1, end = 0;
        int name = (s->flags[k] & GW_SUBJECT_NAME) != 0;
        int head = (s->flags[k] & GW_SUBJECT_HEAD) != 0;
        int own = !(s->flags[k] & GW_SUBJECT_GENERIC);
        int deva = cur.deva;
        int more, secret_after = 0, ends = 1;
        while ((more = next_word(t, len, &i, &nxt))) {
            int adj = nxt.from == last.to + 1 &&
                      (t[last.to] == ' ' || t[last.to] == '-' || t[last.to] == '_');
            size_t kn = adj && (nxt.plain || nxt.deva) ? find(s, nxt.low, nxt.n) : (size_t)-1;
            if (kn != (size_t)-1 && (s->flags[kn] & GW_SUBJECT_PERSON))
                kn = (size_t)-1;
            if (kn == (size_t)-1 && adj && nxt.deva && in_list(joiners_hi, nxt.low)) {
                /* "भंडार कक्ष का कोड", "स्वीकृति वाला नंबर": past the joiner */
                struct word n2;
                size_t i2 = i;
                if (next_word(t, len, &i2, &n2) && n2.from == nxt.to + 1 && t[nxt.to] == ' ') {
                    size_t k2 = n2.plain || n2.deva ? find(s, n2.low, n2.n) : (size_t)-1;
                    if (k2 != (size_t)-1 && !(s->flags[k2] & GW_SUBJECT_PERSON)) {
                        name |= (s->flags[k2] & GW_SUBJECT_NAME) != 0;
                        own |= !(s->flags[k2] & GW_SUBJECT_GENERIC);
                        deva = 1;
                        last = n2;
                        run++;
                        i = i2;
                        continue;
                    }
                    if (secret_word(&n2)) {
                        secret_after = 1;
                        deva = 1;
                        end = n2.to;
                        i = i2;
                        more = next_word(t, len, &i, &nxt);
                        break;
                    }
                }
            }
            if (kn == (size_t)-1) {
                secret_after = adj && secret_word(&nxt);
                if (secret_after && (deva || nxt.deva)) {
                    /* Hindi: the word for secrets goes with the name */
                    deva = 1;
                    end = nxt.to;
                    more = next_word(t, len, &i, &nxt);
                    break;
                }
                /* "the access code for the staff portal": the word for secrets and the prompt's
                 * qualifier go with the name */
                if (secret_after && nxt.plain &&
                    (qe = qualifier_end(s, t, len, nxt.to, &qn)) != 0) {
                    own = 1; /* "access code" alone is generic; with the qualifier, the prompt's */
                    end = qe;
                    i = qn;
                    more = next_word(t, len, &i, &nxt);
                    break;
                }
                /* the phrase ends: punctuation, or a function word after it */
                for (size_t q = last.to; q < nxt.from; q++)
                    ends &= t[q] == ' ';
                ends = !ends || function_word(&nxt);
                break;
            }
            name |= (s->flags[kn] & GW_SUBJECT_NAME) != 0;
            own |= !(s->flags[kn] & GW_SUBJECT_GENERIC);
            deva |= nxt.deva;
            last = nxt;
            run++;
        }
        /* the head alone: in Hindi after a demonstrative or "your" (a noun phrase ends with its
         * head there). A Hindi run of generic words with its word for secrets is the prompt's
         * name too ("एडमिन कोड"): no Hindi rule reads "एडमिन" as a kind of secret, as the English
         * ones read "admin code" */
        int named = !b.mine && (own || (secret_after && deva)) &&
                    (secret_after || (run >= 2 && name) ||
                     (run == 1 && head && exact && (b.det1 || b.det2) &&
                      (deva || (ends && !apostrophe_after(t, len, last.to)))));
        if (named &&
            !replace(t, first.from, end ? end : last.to,
                     deva ? GW_SUBJECT_HI_WORD : GW_SUBJECT_WORD, out, cap, &o, &copied, ed, ned))
            return 0;
        forget(&b);
        cur = nxt;
        have = more;
    }
    if (!*ned || o + (len - copied) > cap)
        return 0;
    memcpy(out + o, t + copied, len - copied);
    return o + (len - copied);
}

size_t
gw_subject_orig(const struct gw_subject_edit *ed, size_t ned, size_t off, int end)
{
    /* off is in the rewrite; each replacement before it shifted what follows by
     * n - (to - from) */
    size_t orig_at = 0, new_at = 0;
    for (size_t k = 0; k < ned; k++) {
        if (off < ed[k].at)
            return orig_at + (off - new_at);
        if (off < ed[k].at + ed[k].n)
            return end && off > ed[k].at ? ed[k].to : ed[k].from;
        orig_at = ed[k].to;
        new_at = ed[k].at + ed[k].n;
    }
    return orig_at + (off - new_at);
}
