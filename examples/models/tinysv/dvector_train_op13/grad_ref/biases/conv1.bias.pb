B
conv1.biasJ ëû¾–ùÚ>ßþ„¾LaP¾ˆÀ=>ç`Ï¾IÐ¾R¾