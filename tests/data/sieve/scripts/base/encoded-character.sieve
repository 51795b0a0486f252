require ["encoded-character", "fileinto"];
if header :contains "subject" "${hex:47 72 c3 bc}" { fileinto "hex"; }
if header :contains "subject" "${unicode:4b f6 6c 6e}" { fileinto "unicode"; }
if header :contains "subject" "${HEX: 6D 65 65 74}" { fileinto "hex-upper"; }
if header :contains "subject" "${hex:zz}" { fileinto "invalid-stays"; }
